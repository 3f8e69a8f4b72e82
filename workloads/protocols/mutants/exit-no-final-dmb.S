// Mutant of deferred: the exit to user space without the final barrier.
// @base deferred
// @expect isolation-break
// @why The ISOLATED store may stay in the store buffer after the return to
// @why user space: a sender reading the flag meanwhile sees BROKEN and
// @why interrupts a CPU that already runs isolated code. It is no safety
// @why violation: the flag says "in the kernel" longer than true, which only
// @why costs an IPI; it never says "isolated" too early, because a store
// @why cannot pass the exit path's earlier loads and stores to the kernel's
// @why data (their values are final before it retires).

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
        DMB   ISH                        // the flag before any read of synced data (seed: smp_mb())
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
