// Mutant of deferred.c: the entry hook's flag write placed after its barrier
// (entry-flag-after-barrier.S in C).
// @base deferred
// @expect safety-violation
// @why The barrier orders nothing between the flag and the loads after it:
// @why the BROKEN store may be delayed past them, as if there were no barrier.
// The functions it does not define come from deferred.S.

// enter_from_user_mode(): context tracking says "in the kernel", then
// task_isolation_kernel_enter().
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		dsb(ish);	/* too early: the flag is written after it */
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		instr_sync();
		if (TLB_SCHEME == TLB_DEFERRED)
			local_flush_tlb_all();
	}
}
