// Mutant of deferred: the sender reads each CPU's flag before its barrier,
// that is, before what its caller wrote is published.
// @base deferred
// @expect safety-violation
// @why A barrier after the read orders nothing before it: the flag read may
// @why be satisfied while the data stores still wait in the store buffer,
// @why the store-buffering shape again.
// The functions it does not define come from deferred.S.

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
