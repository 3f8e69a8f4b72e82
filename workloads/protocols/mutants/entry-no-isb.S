// Mutant of deferred: the entry hook without instr_sync(), and with the
// deferred TLB flush reduced to TLBI + DSB (its trailing ISB would otherwise
// synchronize the instruction stream just the same).
// @base deferred
// @expect safety-violation
// @why Instructions the CPU fetched after its exception entry but before the
// @why sender patched them (IC IVAU, DSB) stay in its pipeline: after a skip,
// @why nothing discards them, and the CPU executes the old instruction.

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
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
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
