// StorePostgres: the PostgreSQL engine of the results store (the fleet's shared database), built
// only with the `Fleet` package trait. See docs/architecture.md "Store engines".
