/*
 * hn_prov.h - provenance of a run: which code, binaries, inputs and machine
 * produced it, stored in the results database (hn_res_prov_set,
 * hn_res_file_add; docs/results-schema.md) so that a report can say which
 * code version each run in the history tested.
 */
#ifndef HN_PROV_H
#define HN_PROV_H

#include <stddef.h>
#include <stdint.h>

#include "hn_results.h"
#include "hn_scenario.h"
#include "pl_err.h"

/*
 * XXH3-128 of a file's bytes into hex (32 lowercase hex digits, as
 * `xxhsum -H2`), its size into *bytes (may be NULL).  Returns 0 or -errno
 * with eb naming the path.
 */
int hn_prov_hash_file(const char *path, char hex[33], int64_t *bytes, pl_errbuf *eb);

/*
 * Record the run's provenance: git commit and dirty flag of the repository
 * that holds bindir (keys git_commit, git_dirty; absent when bindir is not in
 * a git work tree or git is missing), the host (host, os, cores_online,
 * cores_configured), library versions (sqlite, libfiu, xxhash), and the
 * digest of replayproof itself, of each scenario file, of each scenario's
 * pipeline binary and of the crash preload in bindir, and of a scenario's
 * given CSV log.  A file that cannot be read is stored without digest.
 * Returns 0 or a results database error.
 */
int hn_prov_record(hn_res *db, int64_t run_id, const char *bindir, const hn_scenario *scs,
                   int nsc, pl_errbuf *eb);

/*
 * Record the digest of the log a scenario generated (role "log"), once the
 * golden run made it: DIR/ticks.csv of the scenario's work dir.  Nothing when
 * the scenario reads a given CSV (hn_prov_record hashed that) or the file
 * is missing.
 */
int hn_prov_record_log(hn_res *db, int64_t run_id, const hn_scenario *sc, const char *workdir,
                       pl_errbuf *eb);

/*
 * How a user in the current directory runs replayproof (the one next to the
 * running program): its path relative to the current directory when it lies
 * below it ("bin/replayproof" from the project root), else its absolute path.
 * For reproducer lines that work as pasted.
 */
void hn_prov_self(char *out, size_t n);

#endif
