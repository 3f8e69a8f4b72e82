// Norov's IPI benchmark (linux-arm-kernel, December 2017), as a program on
// one CPU: BENCH_ITERATIONS times, read the counter, call
// smp_call_function_many(BENCH_TARGETS, bench_stamp, &stamps[i], BENCH_WAIT),
// read the counter again and store the difference at BENCH_RESULTS + 8 * i
// and the start at BENCH_STARTS + 8 * i. The handler stores the counter at
// its arrival in stamps[i] (BENCH_STAMPS + 8 * i), as Norov's handle_ipi()
// did with ktime_get(); with several targets the last one to run wins.
// The loader defines the BENCH_* symbols; the kernel (smp.S) is loaded first.
ipi_bench:
        MOV   X19, #0
bench_next:
        CMP   X19, #BENCH_ITERATIONS
        B.HS  bench_done
        LSL   X22, X19, #3
        MRS   X20, CNTVCT_EL0
        MOV   X0, #BENCH_TARGETS
        MOV   X1, #BENCH_NTARGETS
        ADR   X2, bench_stamp
        MOV   X3, #BENCH_STAMPS
        ADD   X3, X3, X22
        MOV   X4, #BENCH_WAIT
        BL    smp_call_function_many
        MRS   X21, CNTVCT_EL0
        SUB   X21, X21, X20
        MOV   X9, #BENCH_RESULTS
        STR   X21, [X9, X22]
        MOV   X9, #BENCH_STARTS
        STR   X20, [X9, X22]
        ADD   X19, X19, #1
        B     bench_next

// The call each target runs: stamp the counter at *info.
bench_stamp:
        MRS   X9, CNTVCT_EL0
        STR   X9, [X0]
        RET

bench_done:
