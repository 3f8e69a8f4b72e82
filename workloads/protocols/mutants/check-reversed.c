// Mutant of deferred.c: the check reversed: the sender interrupts exactly the
// CPUs running isolated user code and skips all the others (check-reversed.S in C).
// @base deferred
// @expect safety-violation isolation-break
// @why Every kick interrupts the isolated CPUs in user space (isolation
// @why break); a CPU in the kernel is skipped although nothing will make it
// @why synchronize: an instruction it fetched before the patch runs after the
// @why kick returned (safety violation).
// The functions it does not define come from deferred.S.

bool isolation_defer_cpu(int cpu, unsigned long work)
{
	/* reversed: skip every CPU but the isolated ones */
	return READ_ONCE(per_cpu(ll_isol_flags, cpu)) != ISOL_ISOLATED;
}
