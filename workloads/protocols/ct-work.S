// isolsim protocol: ct-work (context-tracking work deferral).
// @base ct-work
// @expect none
//
// The 2023-2026 series (ct_set_cpu_work(), work run at kernel entry): for a
// nohz_full CPU out of the kernel the sender sets a work bit in its context
// word with a compare-and-swap that fails once the CPU is in the kernel
// (then it gets the IPI); the CPU takes the work at kernel entry in the
// same fully ordered atomic that marks it in, and runs it. The labels a
// protocol file defines, and its register rules, are listed in broadcast.S.

// ct_kernel_enter(): user -> kernel in one fully ordered atomic that also
// takes the pending work, then the work: a TLB flush, and sync_core().
enter_from_user_mode:
        MRS   X9, TPIDR_EL1
        ADD   X9, X9, #PCPU_CONTEXT
        MOV   X10, #CT_STATE_AND_WORK
        LDCLRAL X10, X11, [X9]           // state := kernel, work := none; X11 = before
        LSR   X11, X11, #CT_WORK_SHIFT
        CBZ   X11, entry_hook_done
        AND   X12, X11, #CT_WORK_TLBI
        CBZ   X12, ct_enter_sync
        TLBI  VMALLE1
        DSB   NSH
ct_enter_sync:
        ISB                              // CT_WORK_SYNC, and the end of a TLB flush
entry_hook_done:
        RET

// ct_user_enter(): kernel -> user, fully ordered (ct_state_inc() is an
// atomic_add_return()): from here on a sender may defer work to this CPU.
exit_to_user_mode:
        MRS   X9, TPIDR_EL1
        ADD   X9, X9, #PCPU_CONTEXT
        MOV   X10, #CT_USER
        SWPAL X10, X11, [X9]
        RET

isolation_publish:
        DMB   ISH                        // smp_mb() before the context words are read
        RET

// ct_set_cpu_work(X0 = cpu, X1 = work bits): X0 = 1 if the work was left in
// the CPU's context word for its next kernel entry, 0 if it must be
// interrupted (not nohz_full, or in the kernel).
isolation_defer_cpu:
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
