// Mutant of deferred: the entry hook without instr_sync(), and with the
// deferred TLB flush reduced to TLBI + DSB (its trailing ISB would otherwise
// synchronize the instruction stream just the same).
// @base deferred
// @expect safety-violation
// @why Instructions the CPU fetched after its exception entry but before the
// @why sender patched them (IC IVAU, DSB) stay in its pipeline: after a skip,
// @why nothing discards them, and the CPU executes the old instruction.
// The functions it does not define come from deferred.S.

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
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
entry_hook_done:
        RET
