// Serve: `fusebench serve`, the read-only results dashboard (hummingbird), built only with the
// `Fleet` package trait. See docs/architecture.md ("Serve") and docs/fleet.md ("The dashboard").
