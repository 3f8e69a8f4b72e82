// Mutant of deferred.c: the entry hook as the task-isolation series wrote it,
// smp_mb() before instr_sync(), where deferred.c has dsb(ish) (entry-dmb-not-dsb.S in C).
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
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		smp_mb();	/* orders the flag before later loads, not fetches */
		instr_sync();
		if (TLB_SCHEME == TLB_DEFERRED)
			local_flush_tlb_all();
	}
}
