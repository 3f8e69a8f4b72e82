// Mutant of deferred.c: the entry hook without the deferred TLB flush: its
// TLBI and DSB are gone, its ISB stays (entry-no-flush.S in C).
// @base deferred
// @expect safety-violation
// @why A skipped CPU keeps the translations it had before a vfree(): at its
// @why next entry it reaches the old page through the stale TLB entry.
// The functions it does not define come from deferred.S.

// enter_from_user_mode(): context tracking says "in the kernel", then
// task_isolation_kernel_enter().
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		dsb(ish);
		instr_sync();
		if (TLB_SCHEME == TLB_DEFERRED)
			isb();	/* what is left of local_flush_tlb_all() */
	}
}
