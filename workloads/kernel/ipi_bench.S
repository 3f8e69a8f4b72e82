// Norov's IPI benchmark (linux-arm-kernel, December 2017), as a program on
// one CPU: BENCH_ITERATIONS times, read the counter, call
// smp_call_function_many(BENCH_TARGETS, ipi_nop, NULL, BENCH_WAIT), read
// the counter again and store the difference at BENCH_RESULTS + 8 * i.
// The loader defines the BENCH_* symbols; the kernel (smp.S) is loaded first.
ipi_bench:
        MOV   X19, #0
bench_next:
        CMP   X19, #BENCH_ITERATIONS
        B.HS  bench_done
        MRS   X20, CNTVCT_EL0
        MOV   X0, #BENCH_TARGETS
        MOV   X1, #BENCH_NTARGETS
        MOV   X2, #ipi_nop
        MOV   X3, #0
        MOV   X4, #BENCH_WAIT
        BL    smp_call_function_many
        MRS   X21, CNTVCT_EL0
        SUB   X21, X21, X20
        MOV   X9, #BENCH_RESULTS
        STR   X21, [X9, X19, LSL #3]
        ADD   X19, X19, #1
        B     bench_next
bench_done:
