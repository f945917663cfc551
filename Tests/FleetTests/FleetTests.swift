// FleetTests: the PostgreSQL engine (against a real server the tests start), push/merge between
// engines, and the dashboard. Compiled to nothing without the `Fleet` trait.
