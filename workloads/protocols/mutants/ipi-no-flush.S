// Mutant of broadcast: the IPI callback without the TLB flush.
// @base broadcast
// @expect isolation-break safety-violation
// @why Every CPU is interrupted, by design; but the callback runs no local
// @why TLB flush, so an interrupted CPU keeps the translation of a page the
// @why sender remapped and reaches the old page through it.
// The functions it does not define come from broadcast.S.

// The IPI callback: only the exception's context synchronization, as if the
// kick were only about code and data (the callback of kick_all_cpus_sync()
// used for a vfree()'s flush).
isolation_ipi:
        RET
