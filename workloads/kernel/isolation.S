// isolsim kernel, part 4 of 4: task isolation. The entry and exit hooks of
// Alex Belits' task-isolation series (v5, 2020: task_isolation_kernel_enter,
// task_isolation_exit_to_user_mode, ll_isol_flags), kick_all_cpus_sync() in
// the three forms KernelConfig::protocol selects (symbol KICK_PROTOCOL), the
// context-tracking work deferral of the 2023-2026 series (ct_set_cpu_work,
// work run at kernel entry), and the kernel's callers that need a kick:
// flush_icache_range, static-key text patching, vfree's TLB flush (tlb.S)
// and slab cache tuning.
//
//   PROTO_BROADCAST  a stock kernel: kick_all_cpus_sync() interrupts every
//                    other CPU and waits; the hooks do nothing.
//   PROTO_DEFERRED   the isolation series: kick_all_cpus_sync() reads every
//                    CPU's ll_isol_flags after a full barrier and interrupts
//                    only the CPUs not ISOLATED; a skipped CPU synchronizes
//                    itself in task_isolation_kernel_enter() (write BROKEN,
//                    smp_mb(), instr_sync(), the deferred TLB flush).
//   PROTO_CT_WORK    context tracking: for a nohz_full CPU out of the kernel
//                    the sender sets a work bit in its context word with a
//                    compare-and-swap that fails once the CPU is in the
//                    kernel (then it gets the IPI); the CPU runs the work at
//                    kernel entry, in the same atomic that marks it in.
//
// The four orderings of a kernel entry against a kick that the protocol must
// survive are drawn in ../shared/seed/ (Belits, 2020-11-24). The experiment
// (workloads::experiment) probes labels to time them: kick_publish,
// kick_decided (X24 = a CPU, X0 = 1 if the kick skips it) and kick_done
// bracket a kick (flush_publish, flush_decided and flush_done in tlb.S a
// deferred TLB flush); isol_enter_done / ct_enter_done are where the entry
// hook ends.

// Its constants (PROTO_*, ISOL_*, CT_WORK_*, KDATA_*) are in entry.S, which
// is assembled first.

// ---------------------------------------------------------------------------
// task_isolation_kernel_enter(): called early on every entry from EL0,
// before the kernel touches anything a kick may have changed.
task_isolation_kernel_enter:
        MOV   X11, #KICK_PROTOCOL
        CMP   X11, #PROTO_DEFERRED
        B.NE  isol_enter_done
        MRS   X9, TPIDR_EL1
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_ISOLATED
        B.NE  isol_enter_done
        MOV   X10, #ISOL_BROKEN
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        DMB   ISH                        // the flag before any read of synced data (seed: smp_mb())
        ISB                              // instr_sync(): no instruction fetched before the barrier
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  isol_enter_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
        ISB
isol_enter_done:
        RET

// task_isolation_exit_to_user_mode(): called last before the return to EL0,
// with interrupts masked. A task that still asks for isolation is isolated
// again; the barrier orders everything the kernel did before the flag.
task_isolation_exit_to_user_mode:
        MOV   X11, #KICK_PROTOCOL
        CMP   X11, #PROTO_DEFERRED
        B.NE  isol_exit_done
        MRS   X9, TPIDR_EL1
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_BROKEN
        B.NE  isol_exit_request
        LDR   X11, [X9, #PCPU_ISOL_WANTED]
        CBZ   X11, isol_exit_done
        MOV   X10, #ISOL_REQUEST
isol_exit_request:
        CMP   X10, #ISOL_REQUEST
        B.NE  isol_exit_done
        MOV   X10, #ISOL_ISOLATED
isol_exit_write:
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        DMB   ISH                        // the seed's "one final barrier" before user space
isol_exit_done:
        RET

// sys_isolate(X0 = 1: the task asks for isolation, 0: it no longer does).
sys_isolate:
        MRS   X9, TPIDR_EL1
        STR   X0, [X9, #PCPU_ISOL_WANTED]
        MOV   X10, #ISOL_NONE
        CBZ   X0, sys_isolate_write
        MOV   X10, #ISOL_REQUEST
sys_isolate_write:
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        RET

// ---------------------------------------------------------------------------
// Context tracking with deferred work (PROTO_CT_WORK).

// ct_kernel_enter(): user -> kernel in one fully ordered atomic that also
// takes the pending work, then the work: a TLB flush, and sync_core().
ct_kernel_enter:
        MRS   X9, TPIDR_EL1
        ADD   X9, X9, #PCPU_CONTEXT
        MOV   X10, #CT_STATE_AND_WORK
        LDCLRAL X10, X11, [X9]           // state := kernel, work := none; X11 = before
        LSR   X11, X11, #CT_WORK_SHIFT
        CBZ   X11, ct_enter_done
        AND   X12, X11, #CT_WORK_TLBI
        CBZ   X12, ct_enter_sync
        TLBI  VMALLE1
        DSB   NSH
ct_enter_sync:
        ISB                              // CT_WORK_SYNC, and the end of a TLB flush
ct_enter_done:
        RET

// ct_user_enter(): kernel -> user, fully ordered (ct_state_inc() is an
// atomic_add_return()): from here on a sender may defer work to this CPU.
ct_user_enter:
        MRS   X9, TPIDR_EL1
        ADD   X9, X9, #PCPU_CONTEXT
        MOV   X10, #CT_USER
        SWPAL X10, X11, [X9]
        RET

// ct_set_cpu_work(X0 = cpu, X1 = work bits): X0 = 1 if the work was left in
// the CPU's context word for its next kernel entry, 0 if it must be
// interrupted (not nohz_full, or in the kernel).
ct_set_cpu_work:
        LSL   X9, X0, #PERCPU_SHIFT
        ADD   X9, X9, #PERCPU_BASE
        LDR   X10, [X9, #PCPU_NOHZ_FULL]
        CBZ   X10, ct_work_fail
        ADD   X9, X9, #PCPU_CONTEXT
        LSL   X11, X1, #CT_WORK_SHIFT
        LDR   X10, [X9]                  // atomic_read(&ct->state)
ct_work_retry:
        AND   X12, X10, #CT_USER
        CBZ   X12, ct_work_fail          // in the kernel: it needs the IPI
        ORR   X13, X10, X11
        MOV   X12, X10
ct_work_cas:
        CASAL X12, X13, [X9]             // atomic_try_cmpxchg(): only while out of the kernel
        CMP   X12, X10
        B.EQ  ct_work_ok
        MOV   X10, X12
        B     ct_work_retry
ct_work_ok:
        MOV   X0, #1
        RET
ct_work_fail:
        MOV   X0, #0
        RET

// ---------------------------------------------------------------------------
// isolation_defer_cpu(X0 = cpu, X1 = ct work bits): X0 = 1 if the protocol
// lets the sender skip this CPU (it will synchronize at its next entry),
// 0 if it must be interrupted. The caller has issued a full barrier after
// publishing what the CPU must see.
isolation_defer_cpu:
        MOV   X9, #KICK_PROTOCOL
        CMP   X9, #PROTO_DEFERRED
        B.EQ  defer_by_flags
        CMP   X9, #PROTO_CT_WORK
        B.EQ  ct_set_cpu_work
        MOV   X0, #0
        RET
defer_by_flags:
        LSL   X9, X0, #PERCPU_SHIFT
        ADD   X9, X9, #PERCPU_BASE
kick_flag_read:
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_ISOLATED
        CSET  X0, EQ
        RET

// kick_all_cpus_sync(): when it returns, every other CPU has passed a full
// barrier and a context synchronization after the caller's earlier writes,
// or will before it next runs kernel code (Linux: smp_mb();
// smp_call_function(do_nothing, NULL, 1)).
kick_all_cpus_sync:
        MOV   X1, #CT_WORK_SYNC
// isolation_kick(X1 = ct work bits): kick_all_cpus_sync() with the work a
// deferred CPU must do.
isolation_kick:
        SUB   SP, SP, #64
        STR   X30, [SP]
        STR   X19, [SP, #8]
        STR   X20, [SP, #16]
        STR   X21, [SP, #24]
        STR   X22, [SP, #32]
        STR   X23, [SP, #40]
        STR   X24, [SP, #48]
        MOV   X22, X1
kick_publish:
        DMB   ISH                        // smp_mb(): the data before any CPU's flag is read
        MRS   X19, TPIDR_EL1
        SUB   X20, X19, #PERCPU_BASE
        LSR   X20, X20, #PERCPU_SHIFT    // this CPU
        ADD   X21, X19, #PCPU_KICK_LIST
        MOV   X23, #0                    // CPUs to interrupt
        MOV   X24, #0                    // cpu
kick_scan:
        CMP   X24, #NR_CPUS
        B.HS  kick_send
        CMP   X24, X20
        B.EQ  kick_skip
        MOV   X0, X24
        MOV   X1, X22
        BL    isolation_defer_cpu
kick_decided:
        CBNZ  X0, kick_skip
        STR   X24, [X21, X23, LSL #3]
        ADD   X23, X23, #1
kick_skip:
        ADD   X24, X24, #1
        B     kick_scan
kick_send:
        MOV   X0, X21
        MOV   X1, X23
        ADR   X2, do_nothing
        MOV   X3, #0
        MOV   X4, #1
        BL    smp_call_function_many
kick_done:
        LDR   X24, [SP, #48]
        LDR   X23, [SP, #40]
        LDR   X22, [SP, #32]
        LDR   X21, [SP, #24]
        LDR   X20, [SP, #16]
        LDR   X19, [SP, #8]
        LDR   X30, [SP]
        ADD   SP, SP, #64
        RET

// The kick's callback: the IPI itself (exception entry and return are
// context synchronizing, the IRQ path is fully ordered) is the point.
do_nothing:
        RET

// ---------------------------------------------------------------------------
// Callers.

// flush_icache_range(X0 = start, X1 = end): new instructions in [start, end)
// reach every CPU's instruction fetch (arm64: clean to the point of
// unification, invalidate the I-cache, then kick_all_cpus_sync() so that no
// CPU keeps instructions it fetched before).
flush_icache_range:
        SUB   SP, SP, #16
        STR   X30, [SP]
        AND   X9, X0, #-CACHE_LINE       // down to a line boundary
dc_line:
        CMP   X9, X1
        B.HS  dc_done
        DC    CVAU, X9
        ADD   X9, X9, #CACHE_LINE
        B     dc_line
dc_done:
        DSB   ISH
        AND   X9, X0, #-CACHE_LINE       // down to a line boundary
ic_line:
        CMP   X9, X1
        B.HS  ic_done
        IC    IVAU, X9
        ADD   X9, X9, #CACHE_LINE
        B     ic_line
ic_done:
        DSB   ISH
        ISB
        BL    kick_all_cpus_sync
        LDR   X30, [SP]
        ADD   SP, SP, #16
        RET

// static_key_set(X0 = &key, X1 = new state, X2 = patch site, X3 = new
// instruction): the jump-label update. The key's state is data other CPUs
// read; the site's instruction changes from one to the other of its two
// forms (NOP / B); both must reach every CPU before it next runs the site,
// which is what the text_poke_sync() kick is for (x86 text_poke_bp(); the
// ct-work series defers exactly this kick).
static_key_set:
        STR   X1, [X0]
        STR   W3, [X2]
        MOV   X0, X2
        ADD   X1, X2, #4
        B     flush_icache_range

// do_tune_cpucache(X0 = &cachep->cpu_cache, X1 = new array): publish the
// new per-CPU array, kick so that no CPU still uses the old one, then
// free the old one (its first word is overwritten with SLAB_POISON: a CPU
// that read the old pointer after the kick reads poison).
        .equ  SLAB_POISON, 0x6b6b6b6b
do_tune_cpucache:
        SUB   SP, SP, #32
        STR   X30, [SP]
        STR   X19, [SP, #8]
        LDR   X19, [X0]                  // the old array
        STR   X1, [X0]                   // cachep->cpu_cache = new
        BL    kick_all_cpus_sync
        MOV   X9, #SLAB_POISON
        STR   X9, [X19]                  // kfree(old)
        LDR   X19, [SP, #8]
        LDR   X30, [SP]
        ADD   SP, SP, #32
        RET

// ---------------------------------------------------------------------------
// sys_touch(): a system call whose path uses everything a kick protects: a
// static branch (patched text), the slab's per-CPU array (published data
// whose old copy is freed after the kick) and a vmalloc'ed object (a kernel
// mapping whose TLB entries a flush removes). Returns the sum of the words
// read, so that a user can see them.
sys_touch:
        work  TOUCH_WORK                 // checks, lookups, copying
        MOV   X0, #0
static_key_site:                         // NOP while the key is off, B static_key_on while on
        NOP
        B     touch_slab
static_key_on:
        MOV   X9, #KDATA_STATIC_KEY
        LDR   X0, [X9]                   // the key's state, as its users read it
touch_slab:
        MSR   DAIFSet, #2                // slab_alloc(): local_irq_save(), which the kick relies on
        MOV   X9, #KDATA_CPU_CACHE
        LDR   X10, [X9]                  // cachep->cpu_cache
        CBZ   X10, touch_slab_done
        LDR   X11, [X10]                 // an object from the array (SLAB_POISON once freed)
        ADD   X0, X0, X11
touch_slab_done:
touch_vmap:                              // still with interrupts off: an RCU-sched reader
        MOV   X9, #KDATA_VMAP
        LDR   X10, [X9]
        CBZ   X10, touch_done
        LDR   X11, [X10]                 // through the vmalloc mapping
        ADD   X0, X0, X11
touch_done:
        MSR   DAIFClr, #2                // local_irq_restore()
        STR   X0, [SP, #S_X0]
        RET
