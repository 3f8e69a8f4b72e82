// isolsim protocol: deferred (the task-isolation series).
// @base deferred
// @expect none
//
// Alex Belits' task isolation, v5 (2020): task_isolation_kernel_enter(),
// task_isolation_exit_to_user_mode() and ll_isol_flags. The sender reads
// every CPU's ll_isol_flags after a full barrier and interrupts only the
// CPUs not ISOLATED; a skipped CPU synchronizes itself in its entry hook:
// write BROKEN, a barrier, instr_sync(), and the deferred TLB flush.
//
// The barrier is a DSB ISH, not the series' smp_mb() (DMB ISH): under Arm's
// model a DMB orders memory accesses only, and the instruction fetches that
// follow the ISB may be satisfied before the BROKEN store is visible; a
// sender that read ISOLATED then skips a CPU that runs code fetched before the
// patch (herd7, aarch64.cat with -variant ifetch: the DMB version Sometimes,
// the DSB version Never). mutants/entry-dmb-not-dsb.S is the series' code.
// The four orderings of an entry against a kick that this must survive are
// drawn in ../shared/seed/ (Belits, 2020-11-24). The labels a protocol file
// defines, and its register rules, are listed in broadcast.S.

// enter_from_user_mode(): context tracking says "in the kernel", then
// task_isolation_kernel_enter().
enter_from_user_mode:
        MRS   X9, TPIDR_EL1
        STR   XZR, [X9, #PCPU_CONTEXT]   // CT_KERNEL
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_ISOLATED
        B.NE  entry_hook_done
        MOV   X10, #ISOL_BROKEN
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        DSB   ISH                        // the flag visible before any read of synced data and any fetch
        ISB                              // instr_sync(): no instruction fetched before the barrier
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
        ISB
entry_hook_done:
        RET

// exit_to_user_mode(): context tracking says "in user space", then
// task_isolation_exit_to_user_mode(): a task that still asks for isolation
// is isolated again; the barrier orders everything the kernel did before
// the flag.
exit_to_user_mode:
        MRS   X9, TPIDR_EL1
        MOV   X10, #CT_USER
        STR   X10, [X9, #PCPU_CONTEXT]
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
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        DMB   ISH                        // the seed's "one final barrier" before user space
isol_exit_done:
        RET

// The sender: smp_mb(), then each CPU's flag.
isolation_publish:
        DMB   ISH                        // smp_mb(): the data before any CPU's flag is read
        RET

isolation_defer_cpu:
        LSL   X9, X0, #PERCPU_SHIFT
        ADD   X9, X9, #PERCPU_BASE
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_ISOLATED
        CSET  X0, EQ                     // skip exactly the CPUs running isolated user code
        RET

// The callback of a kick's IPI on a CPU the sender interrupted (X0 = the
// CT_WORK_* bits): taking the interrupt and the ERET are context
// synchronization events, all CT_WORK_SYNC asks; a changed kernel mapping
// asks for the local TLB flush (x86's do_kernel_range_flush()).
isolation_ipi:
        AND   X9, X0, #CT_WORK_TLBI
        CBZ   X9, ipi_callback_done
        TLBI  VMALLE1
        DSB   NSH
        ISB
ipi_callback_done:
        RET
