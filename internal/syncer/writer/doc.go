// Package writer keeps the last good, filtered registry of each source as an
// object in the JetStream object store regsync_data. The syncer writes a
// snapshot only after the data was fetched, validated and filtered, so a
// broken source never replaces good data; downstream consumers read it with
// nothing but NATS (`nats object get regsync_data <source>`).
package writer
