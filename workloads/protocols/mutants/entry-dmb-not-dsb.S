// Mutant of deferred: the entry hook as the task-isolation series wrote it,
// smp_mb() (DMB ISH) before instr_sync() (ISB), where deferred.S has a DSB ISH.
// @base deferred
// @expect safety-violation
// @why Under Arm's model a DMB orders memory accesses, not instruction fetches:
// @why the ISB completes, and the code after it is fetched, while the BROKEN
// @why store may still sit in the store buffer. A sender that patched that code,
// @why then read the flag before the store was visible, sees ISOLATED and skips
// @why the CPU, which runs what it fetched before the patch (herd7 aarch64.cat
// @why -variant ifetch agrees: Sometimes; with DSB ISH, Never).
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
        DMB   ISH                        // smp_mb(): orders the flag before later loads, not fetches
        ISB                              // instr_sync()
        MOV   X11, #TLB_SCHEME
        CMP   X11, #TLB_DEFERRED
        B.NE  entry_hook_done
        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally
        DSB   NSH
        ISB
entry_hook_done:
        RET
