// mykernels-bench: the whole fusebench command line (run, compare, gate, export, …) with this
// package's kernel kinds added. Built without CPU flags: `FuseBenchCLI.main` refuses a CPU that
// lacks the instructions the kernels were built for before any kernel code runs.
import FuseBenchCLI
import MyKernels

FuseBenchCLI.main(kernels: try MyKernels.all())
