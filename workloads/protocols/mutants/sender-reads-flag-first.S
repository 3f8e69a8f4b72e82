// Mutant of deferred: the sender reads each CPU's flag before its barrier,
// that is, before what its caller wrote is published.
// @base deferred
// @expect safety-violation
// @why A barrier after the read orders nothing before it: the flag read may
// @why be satisfied while the data stores still wait in the store buffer,
// @why the store-buffering shape again.

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
        DMB   ISH                        // the seed's "one final barrier" before user space
isol_exit_done:
        RET

// The sender: smp_mb(), then each CPU's flag.
isolation_publish:
        RET

isolation_defer_cpu:
        LSL   X9, X0, #PERCPU_SHIFT
        ADD   X9, X9, #PERCPU_BASE
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        DMB   ISH                        // too late: the flag is already read
        CMP   X10, #ISOL_ISOLATED
        CSET  X0, EQ                     // skip exactly the CPUs running isolated user code
        RET
