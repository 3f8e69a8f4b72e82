// Mutant of deferred: the entry hook without the deferred TLB flush.
// @base deferred
// @expect safety-violation
// @why A skipped CPU keeps the translations it had before a vfree(): at its
// @why next entry it reaches the old page through the stale TLB entry.
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
        ISB                              // instr_sync(): no instruction fetched before the barrier
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        ISB
entry_hook_done:
        RET
