// Mutant of deferred: the entry hook's flag write placed after its barrier.
// @base deferred
// @expect safety-violation
// @why The barrier orders nothing between the flag and the loads after it:
// @why the BROKEN store may be delayed past them, as if there were no barrier.
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
        DSB   ISH                        // too early: the flag is written after it
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
        ISB                              // instr_sync(): no instruction fetched before the barrier
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
        ISB
entry_hook_done:
        RET
