// fusebench: the command-line tool. The whole command line lives in the `FuseBenchCLI` library
// (so a user's own executable can be the same tool with their kernels added); this target is its
// entry point. Built without CPU flags (baseline x86-64, see Package.swift), like FuseBenchCLI,
// whose `main` checks the CPU's ISA before any kernel code runs.
import FuseBenchCLI

@main
struct Entry {
    static func main() {
        FuseBenchCLI.main()
    }
}
