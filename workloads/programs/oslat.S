// The isolated task (EL0) as oslat runs it (rt-tests, src/oslat/oslat.c):
// read the counter, take the delta to the previous read, put it in a
// histogram, forever. Every interrupt, TLBI disturbance and cycle the
// kernel takes from the task shows up as a long iteration in the task's
// own histogram, which the experiment reads back from user memory after
// the run (workloads::experiment::measure). Optionally the task makes a
// system call at seeded counter times; the time of a system call is not an
// iteration (oslat's loop makes none), so the loop restarts its clock after
// each one.
//
// oslat's frc() on arm64 is `ISB; MRS CNTVCT_EL0; ISB`: the first ISB keeps
// the counter read from being taken early, the second keeps later memory
// accesses from going ahead of it. Its insert_bucket() turns the delta into
// time and counts it. The simulated counter runs at the core clock.
// Ticks become nanoseconds as the kernel's clocksources convert them,
// ns = (ticks * NS_MULT) >> NS_SHIFT; divisions by constant bucket widths
// are multiply-shifts, as a compiler emits them. The rare cases (an
// iteration of 1 µs or more, a new minimum or maximum) are out of line, as
// a compiler lays out unlikely blocks: the loop's common path falls through
// its forward branches, which the cores' static predictor (forward: not
// taken) gets right, and takes one branch, the loop's own.
//
// From the experiment (workloads::experiment):
//   NS_MULT, NS_SHIFT   ticks -> ns
//   FINE_MULT           ceil(2^32 / OSLAT_FINE_NS): ns -> fine bucket
//   US_MULT             ceil(2^32 / 1000): ns -> µs
//   OSLAT_FINE_BUCKETS  buckets of OSLAT_FINE_NS below 1 µs
//   OSLAT_US_BUCKETS    1 µs buckets end here; longer iterations overflow
//   OSLAT_*             the histogram's layout (below)
//   USER_SYSCALL        the system call it makes (SYS_TOUCH or SYS_NOP)
//   X19 at start        this CPU's table of system-call counter times,
//                       ended by 2^64-1 (never)
//   X24 at start        this CPU's histogram, zeroed, OSLAT_MIN = 2^64-1
//
// The histogram (offsets from X24): OSLAT_COUNT iterations, OSLAT_SUM their
// ns, OSLAT_MIN, OSLAT_MAX, OSLAT_START the first counter read; from
// OSLAT_BUCKET0, one word per bucket: OSLAT_FINE_BUCKETS fine ones
// ([k*FINE, (k+1)*FINE) ns), then [1, 2) .. [OSLAT_US_BUCKETS-1,
// OSLAT_US_BUCKETS) µs, then the overflow bucket (OSLAT_OVERFLOW).
// The task starts as isolated-start.S says, at user_main.

user_main:
        MOV   X25, #NS_MULT
        MOV   X26, #FINE_MULT
        MOV   X27, #US_MULT
        ADD   X23, X24, #OSLAT_BUCKET0
        LDR   X20, [X19]                 // counter time of the first system call
        ADD   X19, X19, #8
        ISB
        MRS   X21, CNTVCT_EL0            // the first read: where the measurement starts
        ISB
        STR   X21, [X24, #OSLAT_START]
user_iter:
        ISB
        MRS   X22, CNTVCT_EL0
user_stamp:
        ISB
        SUB   X9, X22, X21
        MOV   X21, X22
        MUL   X9, X9, X25
        LSR   X9, X9, #NS_SHIFT          // this iteration, ns
        CMP   X9, #1000
        B.HS  oslat_coarse               // rare: out of line
        MUL   X10, X9, X26
        LSR   X10, X10, #32              // a fine bucket
oslat_insert:
        LDR   X11, [X23, X10, LSL #3]
        ADD   X11, X11, #1
        STR   X11, [X23, X10, LSL #3]
        LDR   X11, [X24, #OSLAT_COUNT]
        ADD   X11, X11, #1
        STR   X11, [X24, #OSLAT_COUNT]
        LDR   X11, [X24, #OSLAT_SUM]
        ADD   X11, X11, X9
        STR   X11, [X24, #OSLAT_SUM]
        LDR   X11, [X24, #OSLAT_MIN]
        CMP   X9, X11
        B.LO  oslat_new_min              // rare: out of line
oslat_max:
        LDR   X11, [X24, #OSLAT_MAX]
        CMP   X9, X11
        B.HI  oslat_new_max              // rare: out of line
oslat_next:
        CMP   X22, X20
        B.LO  user_iter                  // not yet time for a system call
user_syscall:
        MOV   X8, #USER_SYSCALL
        SVC   #0
        LDR   X20, [X19]
        ADD   X19, X19, #8
        ISB
        MRS   X21, CNTVCT_EL0            // the loop's clock restarts after the call
user_resumed:
        ISB
        B     user_iter

// The rare cases, out of the loop's straight line.
oslat_coarse:
        MOV   X10, #OSLAT_OVERFLOW
        CMP   X9, #OSLAT_US_BUCKETS * 1000
        B.HS  oslat_insert
        MUL   X10, X9, X27
        LSR   X10, X10, #32              // whole microseconds, at least 1
        ADD   X10, X10, #OSLAT_FINE_BUCKETS - 1
        B     oslat_insert
oslat_new_min:
        STR   X9, [X24, #OSLAT_MIN]
        B     oslat_max
oslat_new_max:
        STR   X9, [X24, #OSLAT_MAX]
        B     oslat_next
