// Mutant of deferred.c: the exit to user space without the final barrier
// (exit-no-final-dmb.S in C).
// @base deferred
// @expect isolation-break
// @why The ISOLATED store may stay in the store buffer after the return to
// @why user space: a sender reading the flag meanwhile sees BROKEN and
// @why interrupts a CPU that already runs isolated code. It is no safety
// @why violation: the flag says "in the kernel" longer than true, which only
// @why costs an IPI; it never says "isolated" too early, because a store
// @why cannot pass the exit path's earlier loads and stores to the kernel's
// @why data (their values are final before it retires).
// The functions it does not define come from deferred.S.

void exit_to_user_mode(void)
{
	unsigned long flags;

	this_cpu_write(context, CT_USER);
	flags = this_cpu_read(ll_isol_flags);
	if (flags == ISOL_BROKEN) {
		if (!this_cpu_read(isol_wanted))
			return;
		flags = ISOL_REQUEST;
	}
	if (flags == ISOL_REQUEST)
		this_cpu_write(ll_isol_flags, ISOL_ISOLATED);	/* no smp_mb() after it */
}
