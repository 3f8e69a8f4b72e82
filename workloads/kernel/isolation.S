// isolsim kernel, part 4 of 4: task isolation, around the protocol. The
// protocol itself (the kernel entry and exit hooks and the sender's
// decision: enter_from_user_mode, entry_hook_done, exit_to_user_mode,
// isolation_publish, isolation_defer_cpu) is a separate file assembled after
// this one: workloads/protocols/broadcast.S (a stock kernel), deferred.S
// (Alex Belits' task-isolation series, 2020) or ct-work.S (context-tracking
// work deferral, 2023-2026), or a user's variant. Here: sys_isolate(),
// kick_all_cpus_sync() around the protocol's decision, and the kernel's
// callers that need a kick: flush_icache_range, static-key text patching
// and slab cache tuning (vfree's TLB flush is in tlb.S).
//
// The experiment (workloads::experiment) probes labels to time a kick:
// kick_publish (the caller's writes are published from here), kick_decided
// (X24 = a CPU, X0 = 1 if the kick skips it) and kick_done; tlb.S has the
// same three for a deferred TLB flush (flush_*), the protocol file marks
// where its entry hook ends (entry_hook_done).

// Its constants (ISOL_*, CT_WORK_*, KDATA_*) are in entry.S, which is
// assembled first.

// ---------------------------------------------------------------------------
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
        BL    isolation_publish          // the protocol's smp_mb(): the data before any CPU's state is read
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
