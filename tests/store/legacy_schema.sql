-- The schema SQLite databases had before the gateway kept a schema history (kept to test
-- that such a database is adopted at the baseline revision).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE IF NOT EXISTS jobs ( id TEXT PRIMARY KEY, owner TEXT NOT NULL, backend TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, name TEXT NOT NULL, experiment_id TEXT NOT NULL, tags TEXT NOT NULL, sequence INTEGER NOT NULL, revision INTEGER NOT NULL, snapshot TEXT NOT NULL, share_level TEXT NOT NULL, owner_hub TEXT NOT NULL, owner_grp TEXT NOT NULL, owner_project TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created, id);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created, id);
CREATE INDEX IF NOT EXISTS jobs_by_backend ON jobs (backend, created, id);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created, id);
CREATE TABLE IF NOT EXISTS circuits ( job_id TEXT NOT NULL REFERENCES jobs (id), idx INTEGER NOT NULL, format TEXT NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (job_id, idx));
CREATE TABLE IF NOT EXISTS events ( revision INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs (id), sequence INTEGER NOT NULL, type TEXT NOT NULL, time INTEGER NOT NULL, snapshot TEXT NOT NULL, UNIQUE (job_id, sequence));
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TABLE IF NOT EXISTS results ( job_id TEXT PRIMARY KEY REFERENCES jobs (id), document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests ( owner TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL, job_id TEXT NOT NULL REFERENCES jobs (id), PRIMARY KEY (owner, request_id));
CREATE TABLE IF NOT EXISTS users ( name TEXT PRIMARY KEY, hub TEXT NOT NULL, grp TEXT NOT NULL, project TEXT NOT NULL, admin INTEGER NOT NULL, created INTEGER NOT NULL, revoked INTEGER, token_hash TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS audit ( id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, peer TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor, id);
