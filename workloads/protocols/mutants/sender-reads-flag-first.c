// Mutant of deferred.c: the sender reads each CPU's flag before its barrier,
// that is, before what its caller wrote is published (sender-reads-flag-first.S in C).
// @base deferred
// @expect safety-violation
// @why A barrier after the read orders nothing before it: the flag read may
// @why be satisfied while the data stores still wait in the store buffer,
// @why the store-buffering shape again.
// The functions it does not define come from deferred.S.

void isolation_publish(void)
{
}

bool isolation_defer_cpu(int cpu, unsigned long work)
{
	unsigned long flags = READ_ONCE(per_cpu(ll_isol_flags, cpu));

	smp_mb();	/* too late: the flag is already read */
	return flags == ISOL_ISOLATED;
}
