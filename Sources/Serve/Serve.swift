// Serve: `fusebench serve`, the read-only results dashboard (hummingbird), built only with the
// `Fleet` package trait. See docs/architecture.md "Dashboard".
