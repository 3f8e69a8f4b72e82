// isolsim protocol: ct-work (context-tracking work deferral), in kernel C.
// @base ct-work
// @expect none
//
// ct-work.S written as the 2023-2026 series writes it: ct_set_cpu_work()
// sets a work bit in a nohz_full CPU's context word with a compare-and-swap
// that fails once the CPU is in the kernel; ct_kernel_enter() takes the work
// in the same fully ordered atomic that marks the CPU in, and runs it. The
// context word is the per-CPU variable `context`: bit 0 the state (CT_USER
// or CT_KERNEL), the work bits from CT_WORK_SHIFT up.

// ct_kernel_enter(): user -> kernel in one fully ordered atomic that also
// takes the pending work, then the work: a TLB flush, and sync_core().
void enter_from_user_mode(void)
{
	unsigned long work;

	work = atomic_fetch_andnot(CT_STATE_AND_WORK, this_cpu_ptr(&context)) >> CT_WORK_SHIFT;
	if (work) {
		if (work & CT_WORK_TLBI) {
			__tlbi(vmalle1);
			dsb(nsh);
		}
		isb();	/* CT_WORK_SYNC, and the end of a TLB flush */
	}
}

// ct_user_enter(): kernel -> user, fully ordered (ct_state_inc() is an
// atomic_add_return()): from here on a sender may defer work to this CPU.
void exit_to_user_mode(void)
{
	atomic_xchg(this_cpu_ptr(&context), CT_USER);
}

void isolation_publish(void)
{
	smp_mb();	/* before the context words are read */
}

// ct_set_cpu_work(): true if the work was left in the CPU's context word for
// its next kernel entry, false if it must be interrupted (not nohz_full, or
// in the kernel).
bool isolation_defer_cpu(int cpu, unsigned long work)
{
	atomic_t *ct;
	unsigned long old, new, bits;

	if (!per_cpu(nohz_full, cpu))
		return false;
	ct = per_cpu_ptr(&context, cpu);
	bits = work << CT_WORK_SHIFT;
	old = atomic_read(ct);
	do {
		if (!(old & CT_USER))
			return false;	/* in the kernel: it needs the IPI */
		new = old | bits;
	} while (!atomic_try_cmpxchg(ct, &old, new));
	return true;
}

/* The callback of a kick's IPI on a CPU the sender interrupted: taking the
 * interrupt and the ERET are context synchronizing, all CT_WORK_SYNC asks; a
 * changed kernel mapping asks for the local TLB flush. */
void isolation_ipi(unsigned long work)
{
	if (work & CT_WORK_TLBI) {
		__tlbi(vmalle1);
		dsb(nsh);
		isb();
	}
}
