// Mutant of deferred.c: the sender without its smp_mb() (sender-no-dmb.S in C).
// @base deferred
// @expect safety-violation
// @why The caller's data stores may still sit in the sender's store buffer
// @why when it reads a CPU's flag; the CPU writes BROKEN, passes its barrier
// @why and reads the old data, while the sender saw ISOLATED and skipped it.
// The functions it does not define come from deferred.S.

void isolation_publish(void)
{
}
