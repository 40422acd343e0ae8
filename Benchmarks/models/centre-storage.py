#!/usr/bin/env python3
"""The centre's storage per change, modelled (docs/BENCHMARKS.md, "The centre's storage per change").

Writes 100,000 plan-line changes as scenario 2 of promo-bench pushes them (new rows, one change
each, 1,000 per changeset) into SQLite files with the centre's tables (`record`, `history`,
`changeset`) laid out in several ways, and prints each file's bytes per change from SQLite's
`dbstat`, by table with its indexes. "1.7.0" is the store as release 1.7.0 wrote it (1,069 bytes;
promo-bench measured 1,071 on a real centre: record 529, history 344, bodies 197). "current" is
the store as written since: bodies compressed (zlib level 1) and a record's clock stored once when
its fields share it (promo-bench measures 745: record 371, history 344, bodies 29). "lean" is
current with the lean schema besides (`record` WITHOUT ROWID, no separate `seq` index, the
aggregate column and its index only where the aggregate is not the row itself; `history` WITHOUT
ROWID keyed by aggregate, table, id and clock, no second index): a store migration that rebuilds
both tables. "lean, binary history keys" is lean with the history's aggregate and id stored as
their 16 bytes and its table and operation as small numbers (the fields stay JSON text). Run: python3 Benchmarks/models/centre-storage.py (needs SQLite with dbstat, as
Debian's python3 has). Files go to a temporary folder, removed afterwards.
"""
import json, os, shutil, sqlite3, tempfile, uuid, zlib

N=100_000
def rows():
    base=0x0018bcfe56801
    for i in range(N):
        t=base+i//10
        # A UUID version 7 as RowID.make() makes them: 48 bits of milliseconds, then random bits.
        u=uuid.UUID(int=(t<<80)|(0x7<<76)|(int.from_bytes(os.urandom(2),'big')&0xfff)<<64|(0x2<<62)|(int.from_bytes(os.urandom(8),'big')>>2))
        rid=str(u); hlc="%013x-0000-79"%t
        fields={"amount":i+1,"fund_source":"local","note":None,"office":"79","year":2000+i%26}
        yield rid,hlc,fields
def size(path):
    c=sqlite3.connect(path)
    tot=c.execute("select sum(pgsize) from dbstat").fetchone()[0]
    parts=c.execute("select coalesce(s.tbl_name,d.name), sum(pgsize) from dbstat d left join sqlite_schema s on s.name=d.name group by 1 order by 2 desc").fetchall()
    return tot/N, [(a,round(b/N)) for a,b in parts[:4]]
def build(path, lean, compact_clocks, gzip_body, binary_keys=False):
    c=sqlite3.connect(path); c.execute("PRAGMA journal_mode=WAL")
    wr=" WITHOUT ROWID" if lean else ""
    if lean:
        c.execute("CREATE TABLE record(tbl TEXT NOT NULL, id TEXT NOT NULL, office TEXT NOT NULL, fields TEXT NOT NULL, clocks TEXT NOT NULL, deleted_at TEXT, seq INTEGER NOT NULL, aggregate TEXT, held INTEGER NOT NULL DEFAULT 0, echo_office TEXT, echo_sequence INTEGER, PRIMARY KEY(tbl,id)) WITHOUT ROWID")
        c.execute("CREATE INDEX record_office_seq ON record(office, seq)")
        c.execute("CREATE INDEX record_aggregate ON record(aggregate, tbl) WHERE aggregate IS NOT NULL")
        key="BLOB" if binary_keys else "TEXT"; small="INTEGER" if binary_keys else "TEXT"
        c.execute(f"CREATE TABLE history(aggregate {key} NOT NULL, tbl {small} NOT NULL, id {key} NOT NULL, hlc TEXT NOT NULL, op {small} NOT NULL, fields TEXT NOT NULL, writer TEXT, position INTEGER, PRIMARY KEY(aggregate, tbl, id, hlc)) WITHOUT ROWID")
    else:
        c.execute("CREATE TABLE record(tbl TEXT NOT NULL, id TEXT NOT NULL, office TEXT NOT NULL, fields TEXT NOT NULL, clocks TEXT NOT NULL, deleted_at TEXT, seq INTEGER NOT NULL UNIQUE, aggregate TEXT, held INTEGER NOT NULL DEFAULT 0, echo_office TEXT, echo_sequence INTEGER, PRIMARY KEY(tbl,id))")
        c.execute("CREATE INDEX record_office_seq ON record(office, seq)")
        c.execute("CREATE INDEX record_aggregate ON record(aggregate, tbl)")
        c.execute("CREATE TABLE history(tbl TEXT NOT NULL, id TEXT NOT NULL, aggregate TEXT NOT NULL, hlc TEXT NOT NULL, op TEXT NOT NULL, fields TEXT NOT NULL, writer TEXT, position INTEGER, PRIMARY KEY(tbl,id,hlc))")
        c.execute("CREATE INDEX history_aggregate ON history(aggregate)")
    c.execute("CREATE TABLE changeset(office TEXT NOT NULL, sequence INTEGER NOT NULL, hash TEXT NOT NULL, previous_hash TEXT NOT NULL, change_count INTEGER NOT NULL, body BLOB NOT NULL, received_at TEXT NOT NULL, position INTEGER, chain_hash TEXT, PRIMARY KEY(office, sequence))")
    c.execute("CREATE UNIQUE INDEX changeset_position ON changeset(position)")
    c.execute("BEGIN")
    batch=[]; seq=0
    for rid,hlc,fields in rows():
        seq+=1
        fj=json.dumps(fields,separators=(',',':'),sort_keys=True)
        fnn={k:v for k,v in fields.items() if v is not None}
        clocks=hlc if compact_clocks else json.dumps({k:hlc for k in fields},separators=(',',':'),sort_keys=True)
        agg=None if lean else rid
        c.execute("INSERT INTO record VALUES (?,?,?,?,?,NULL,?,?,0,'79',1)",("plan_line",rid,"79",fj,clocks,seq,agg))
        if binary_keys: c.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)",(uuid.UUID(rid).bytes,1,uuid.UUID(rid).bytes,hlc,1,fj,"79",seq//1000))
        elif lean: c.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)",(rid,"plan_line",rid,hlc,"upsert",fj,"79",seq//1000))
        else: c.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)",("plan_line",rid,rid,hlc,"upsert",fj,"79",seq//1000))
        batch.append({"table":"plan_line","id":rid,"op":"upsert","hlc":hlc,"fields":fields})
        if len(batch)==1000:
            body=json.dumps({"office":"79","sequence":seq//1000,"previous_hash":"0"*64,"changes":batch},separators=(',',':')).encode()
            if gzip_body: body=zlib.compress(body,1)
            c.execute("INSERT INTO changeset VALUES ('79',?,?,?,1000,?,'2026-12-06T00:00:00Z',?,?)",(seq//1000,"a"*64,"b"*64,body,seq//1000,"c"*64))
            batch=[]
    c.execute("COMMIT"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()
folder=tempfile.mkdtemp(prefix="promo-storage-model-")
try:
  for name,args in [("1.7.0",(False,False,False)),("current",(False,True,True)),("lean",(True,True,True)),("lean, binary history keys",(True,True,True,True))]:
    p=os.path.join(folder,name+".sqlite"); build(p,*args); total,parts=size(p); print("%-26s %5.0f bytes per change  %s"%(name,total,", ".join("%s %d"%x for x in parts if x[1])))
finally:
  shutil.rmtree(folder)
