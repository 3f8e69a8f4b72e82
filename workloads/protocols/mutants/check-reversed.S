// Mutant of deferred: the check reversed: the sender interrupts exactly the
// CPUs running isolated user code and skips all the others.
// @base deferred
// @expect safety-violation isolation-break
// @why Every kick interrupts the isolated CPUs in user space (isolation
// @why break); a CPU in the kernel is skipped although nothing will make it
// @why synchronize: an instruction it fetched before the patch runs after the
// @why kick returned (safety violation).
// The functions it does not define come from deferred.S.

isolation_defer_cpu:
        LSL   X9, X0, #PERCPU_SHIFT
        ADD   X9, X9, #PERCPU_BASE
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_ISOLATED
        CSET  X0, NE                     // reversed: skip every CPU but the isolated ones
        RET
