//! Storage of finalized blocks and state in RocksDB.
//!
//! Column families:
//!
//! | family         | key                 | value                                      |
//! |----------------|---------------------|--------------------------------------------|
//! | `blocks`       | height (u64 BE)     | encoded block                              |
//! | `block_hashes` | block id            | height (u64 BE)                            |
//! | `receipts`     | height (u64 BE)     | encoded receipt list                       |
//! | `certificates` | height (u64 BE)     | the consensus finality certificate (opaque)|
//! | `tx_index`     | tx id               | height u64 BE ‖ position u32 BE            |
//! | `state`        | public key          | encoded account                            |
//! | `meta`         | name                | chain id, finalized height, system state   |
//! | `validator_sets` | validator-set hash | the encoded validator list (every set a header named) |
//! | `epoch_ends`   | height (u64 BE)     | header (241) ‖ finality proof, of every epoch's last block (kept when blocks are pruned) |
//!
//! Pruning ([`Store::prune_step`]) deletes old blocks, receipts and tx index entries (never
//! genesis, the epoch-end records or the validator sets); `meta` records the oldest height
//! each still holds. Tx index entries below that height are ignored by lookups and dropped
//! by the index's compaction filter.
//! A finalized block, its receipts, certificate, tx index entries, account changes, system
//! state and the new finalized height go in one `WriteBatch` written with sync, so after a
//! crash the store holds exactly the blocks whose commit returned, and maybe the one being
//! committed, never part of one. Opening rebuilds the account tree and checks its root
//! against the last header, so silent corruption is found at start.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::compaction_filter::{CompactionFilter, Decision};
use rocksdb::compaction_filter_factory::{CompactionFilterContext, CompactionFilterFactory};
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::account::Account;
use crate::block::{Block, BlockHeader, Receipt};
use crate::codec::{Decode, DecodeError, Encode, Limits, Reader, decode_exact, put_list};
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::state::{AccountTree, Change, LedgerState, SystemState, Validator, validator_set_hash};
use crate::tx::SignedTransaction;

const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_HASHES: &str = "block_hashes";
const CF_RECEIPTS: &str = "receipts";
const CF_CERTIFICATES: &str = "certificates";
const CF_TX_INDEX: &str = "tx_index";
const CF_STATE: &str = "state";
const CF_META: &str = "meta";
const CF_VALIDATOR_SETS: &str = "validator_sets";
const CF_EPOCH_ENDS: &str = "epoch_ends";
const ALL_CFS: [&str; 9] = [
    CF_BLOCKS,
    CF_BLOCK_HASHES,
    CF_RECEIPTS,
    CF_CERTIFICATES,
    CF_TX_INDEX,
    CF_STATE,
    CF_META,
    CF_VALIDATOR_SETS,
    CF_EPOCH_ENDS,
];

const META_CHAIN_ID: &[u8] = b"chain_id";
const META_FINALIZED: &[u8] = b"finalized_height";
const META_SYSTEM: &[u8] = b"system_state";
const META_OLDEST_BLOCK: &[u8] = b"oldest_block";
const META_OLDEST_RECEIPTS: &[u8] = b"oldest_receipts";
const META_OLDEST_TX_INDEX: &[u8] = b"oldest_tx_index";
const META_RESTORING: &[u8] = b"restoring";

/// The encoded size of a block header (version 1).
pub const HEADER_BYTES: usize = 241;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Stored bytes do not decode, or disagree with each other.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// The store belongs to another chain.
    #[error("store holds chain {stored}, not {expected}")]
    WrongChain {
        /// The chain asked for.
        expected: Hash,
        /// The chain stored.
        stored: Hash,
    },
    /// The block is not the next one.
    #[error("cannot commit block {got}: the next height is {expected}")]
    NotNext {
        /// The next height.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// The block does not extend the stored head.
    #[error("block {height} does not extend the stored head")]
    ParentMismatch {
        /// The block's height.
        height: u64,
    },
    /// The store has no genesis block yet.
    #[error("store is empty: initialise it with a genesis block first")]
    Empty,
    /// Receipts and transactions differ in number.
    #[error("{receipts} receipts for {txs} transactions")]
    ReceiptCount {
        /// Receipts given.
        receipts: usize,
        /// Transactions in the block.
        txs: usize,
    },
}

impl From<DecodeError> for StoreError {
    fn from(e: DecodeError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Where a transaction was included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// The block height.
    pub height: u64,
    /// The position in the block.
    pub index: u32,
}

/// A transaction found by id, with its receipt and location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncludedTx {
    /// The signed transaction.
    pub tx: SignedTransaction,
    /// Its receipt; `None` when its block's receipts are pruned and the tx index is not
    /// (`storage.retain_receipts` below `storage.retain_tx_index`).
    pub receipt: Option<Receipt>,
    /// Where it is.
    pub location: TxLocation,
}

/// A finalized block to commit, with everything derived from executing it.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its receipts, one per transaction.
    pub receipts: &'a [Receipt],
    /// The account changes (normalized: sorted, unique, `None` for removals).
    pub changes: &'a [Change],
    /// The system state after the block.
    pub system: &'a SystemState,
    /// The consensus certificate that finalized it (empty for genesis).
    pub certificate: &'a [u8],
}

/// The RocksDB store of one chain.
#[derive(Debug)]
pub struct Store {
    db: DB,
    limits: Limits,
    /// Blocks per epoch: the last block of each gets an `epoch_ends` record (0: none).
    epoch_length: u64,
    /// The oldest height whose tx index entries are held (`meta`'s `oldest_tx_index`, 0 on
    /// an archive node): entries pointing below it are pruned. Lookups ignore them at once
    /// and compaction drops them ([`PrunedTxIndex`]). Raised after the synced batch that
    /// records it.
    tx_index_floor: Arc<AtomicU64>,
    /// The floor lookups and the commit's duplicate check use: raised before the batch
    /// that records the floor and deletes the blocks (which `tx_index_floor` follows), so a
    /// lookup never finds an entry whose block that batch has deleted.
    tx_lookup_floor: AtomicU64,
}

/// The tx index's compaction filter: drops the entries of heights below the store's
/// `tx_index_floor`. Pruning the index entry by entry read every pruned block back to
/// learn its transaction ids and looked each one up before deleting it: ~26 µs of the
/// pruner's CPU per transaction, so under a 30-minute load at 15,000 tx/s a validator
/// keeping 2,000 blocks fell up to 6,000 heights behind and held more disk than an archive
/// node (BENCHMARKS.md, 2026-12-04, fifteenth session). Now pruning the index only moves the
/// floor; each compaction that rewrites an entry drops it if it is below, at no extra read.
struct PrunedTxIndex {
    floor: Arc<AtomicU64>,
    name: CString,
}

impl CompactionFilterFactory for PrunedTxIndex {
    type Filter = PrunedTxIndexFilter;

    // RocksDB calls this from several compaction threads at once (the crate hands each a
    // `&mut self`): it must only read
    fn create(&mut self, _context: CompactionFilterContext) -> PrunedTxIndexFilter {
        PrunedTxIndexFilter {
            floor: self.floor.load(Ordering::Acquire),
            name: self.name.clone(),
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}

/// One compaction's copy of [`PrunedTxIndex`]: the floor when the compaction started.
struct PrunedTxIndexFilter {
    floor: u64,
    name: CString,
}

impl CompactionFilter for PrunedTxIndexFilter {
    fn filter(&mut self, _level: u32, _key: &[u8], value: &[u8]) -> Decision {
        match tx_index_height(value) {
            Some(h) if h < self.floor => Decision::Remove,
            _ => Decision::Keep,
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}

/// The height a tx index entry points at (`None`: not an entry).
fn tx_index_height(value: &[u8]) -> Option<u64> {
    let h: [u8; 8] = value.get(..8)?.try_into().ok()?;
    (value.len() == 12).then_some(u64::from_be_bytes(h))
}

/// What one [`Store::prune_step`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Blocks deleted (with their hash index and certificates).
    pub blocks: u64,
    /// Receipt lists deleted.
    pub receipts: u64,
    /// Heights whose tx index entries went (compaction gives their space back).
    pub tx_index: u64,
}

/// The oldest heights a store still holds (genesis and epoch ends are always kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oldest {
    /// The oldest block (and certificate) held, besides genesis and epoch ends.
    pub block: u64,
    /// The oldest receipts held.
    pub receipts: u64,
    /// The oldest height whose transactions are still in the tx index.
    pub tx_index: u64,
}

/// Options for the database and each column family. The write pattern is one synced
/// batch per finalized block, mostly random 32-byte keys (tx ids, accounts) whose values
/// (hashes, keys, signatures) barely compress: files flushed from memtables (L0) and the
/// first level stay uncompressed, so flushes cost no CPU on the validator's two cores;
/// deeper levels, written by background compaction, use LZ4.
fn tuned_options() -> Options {
    use rocksdb::DBCompressionType::{Lz4, None as Plain};
    let mut o = Options::default();
    o.set_compression_per_level(&[Plain, Plain, Lz4, Lz4, Lz4, Lz4, Lz4]);
    // write flushed and compacted files back a megabyte at a time, so their final fsync
    // is small and the commit's synced write does not queue behind tens of megabytes
    o.set_bytes_per_sync(1 << 20);
    o
}

/// The tx index's memtable (RocksDB's default is 64 MiB). One entry per transaction under
/// a random 32-byte key: every insert walks the skip list, and in a 64 MiB one (~980,000
/// entries) most steps miss the cache, on the commit thread. A quarter of that keeps
/// inserts cheap; the price is more frequent flushes and L0→L1 compactions, which run at low
/// priority in the background (BENCHMARKS.md).
const TX_INDEX_MEMTABLE_BYTES: usize = 16 << 20;

/// L0 files of the tx index at which RocksDB slows, and stops, writes (its defaults: 20
/// and 36). At 20,000 tx/s the index flushes a memtable every ~10 s, and one compaction
/// of it at low priority on saturated cores took up to 103 s.
const TX_INDEX_L0_SLOWDOWN: i32 = 48;
/// See [`TX_INDEX_L0_SLOWDOWN`].
const TX_INDEX_L0_STOP: i32 = 72;

/// The memtable of whole blocks and of receipts. Every validator writes the same bytes at
/// the same heights, so with RocksDB's default 64 MiB memtable all validators of a testnet
/// on one machine flushed ~67 MB each in the same two seconds (about 1.2 s of CPU of the
/// two cores when four nodes used 90% of them); the backlog that left was never drained
/// (BENCHMARKS.md, 2026-12-02, third session). Smaller memtables flush the same bytes in
/// pieces a quarter the size; nothing reads recent blocks from RocksDB on the hot path
/// (the node keeps them in memory), so nothing is lost by flushing sooner.
const BULK_MEMTABLE_BYTES: usize = 16 << 20;

/// The write-ahead log RocksDB may keep before it flushes the column families whose
/// memtables hold its oldest entries. A family written a few bytes a block (`meta`,
/// `certificates`, `block_hashes`) takes hours to fill a memtable, and every log file
/// written since its oldest unflushed entry is kept: under a 30-minute load at 15,000 tx/s
/// a validator's logs grew to 7.6 GB, more than half its disk and past anything pruning
/// bounds, and a restart replays them all (BENCHMARKS.md, 2026-12-04, thirteenth
/// session). RocksDB's own bound (`0`: four times every memtable's size, ~4 GB here) did
/// not hold.
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

fn height_key(h: u64) -> [u8; 8] {
    h.to_be_bytes()
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Store, StoreError> {
        Self::open_with_wal(path, limits, MAX_TOTAL_WAL_BYTES)
    }

    /// [`Store::open`] with `max_wal` bytes of write-ahead log at most (`0`: RocksDB's
    /// default).
    fn open_with_wal(path: &Path, limits: Limits, max_wal: u64) -> Result<Store, StoreError> {
        let mut opts = tuned_options();
        opts.set_max_total_wal_size(max_wal);
        // Compactions are background work: at the lowest CPU priority they use what the
        // validator's own threads leave idle instead of taking the cores from them in
        // bursts. Flushes (the high-priority pool) keep the normal priority: a memtable
        // that cannot be flushed stalls every write, and at nice 19 on saturated cores a
        // flush that takes 1.7 s took 17 s, the commit thread stalled behind it, blocks
        // grew to the size limit and the chain never caught up (BENCHMARKS.md, 2026-12-02).
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        opts.set_env(&env);
        // Three compaction threads beside the flush thread (RocksDB's default: one each).
        // The tx index's L0→L1 compactions rewrite random keys and, at nice 19 on saturated
        // cores, took 27–103 s of wall time for 1–2 s of CPU; with one compaction thread
        // the blocks column family's L0 files piled up behind them past the slowdown
        // trigger, the commit thread's writes were throttled and stopped, and the chain
        // stalled for 17–27 s (BENCHMARKS.md, 2026-12-03, ninth session). The blocks' and
        // receipts' compactions are cheap (keys in height order) and must not wait.
        opts.set_max_background_jobs(4);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // 0 until the meta is read below: compactions that start first drop nothing
        let tx_index_floor = Arc::new(AtomicU64::new(0));
        let cfs = ALL_CFS.iter().map(|name| {
            let mut o = tuned_options();
            match *name {
                CF_TX_INDEX => {
                    o.set_compaction_filter_factory(PrunedTxIndex {
                        floor: tx_index_floor.clone(),
                        name: c"palisade-pruned-tx-index".to_owned(),
                    });
                    // no periodic rewrite (RocksDB's default with a filter: every file
                    // every 30 days): on an archive node it would rewrite the whole index
                    // for nothing; pruned entries go with the compactions new entries cause
                    o.set_periodic_compaction_seconds(0);
                    o.set_write_buffer_size(TX_INDEX_MEMTABLE_BYTES);
                    // only RPC lookups read it: more L0 files while a slow compaction
                    // runs cost a lookup a little, throttling the commit costs the chain
                    o.set_level_zero_slowdown_writes_trigger(TX_INDEX_L0_SLOWDOWN);
                    o.set_level_zero_stop_writes_trigger(TX_INDEX_L0_STOP);
                }
                CF_BLOCKS | CF_RECEIPTS => o.set_write_buffer_size(BULK_MEMTABLE_BYTES),
                _ => {}
            }
            ColumnFamilyDescriptor::new(*name, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let store = Store {
            db,
            limits,
            epoch_length: 0,
            tx_index_floor,
            tx_lookup_floor: AtomicU64::new(0),
        };
        let floor = store.oldest()?.tx_index;
        store.tx_lookup_floor.store(floor, Ordering::Release);
        store.tx_index_floor.store(floor, Ordering::Release);
        Ok(store)
    }

    /// Open the store of the chain `params` describes: as [`Store::open`], and the last
    /// block of every epoch gets an `epoch_ends` record (header and finality proof), which
    /// light clients and joining nodes walk and pruning keeps.
    pub fn open_chain(path: &Path, params: &crate::ChainParams) -> Result<Store, StoreError> {
        let mut store = Store::open(path, params.limits)?;
        store.epoch_length = params.epoch_length;
        Ok(store)
    }

    fn meta_u64(&self, name: &[u8]) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(self.cf(CF_META)?, name)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!(
                        "meta {} is not 8 bytes",
                        String::from_utf8_lossy(name)
                    ))
                })?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// The oldest heights held (all 0 on an archive node).
    pub fn oldest(&self) -> Result<Oldest, StoreError> {
        Ok(Oldest {
            block: self.meta_u64(META_OLDEST_BLOCK)?.unwrap_or(0),
            receipts: self.meta_u64(META_OLDEST_RECEIPTS)?.unwrap_or(0),
            tx_index: self.meta_u64(META_OLDEST_TX_INDEX)?.unwrap_or(0),
        })
    }

    /// Delete at most `max_heights` heights' worth of old blocks and receipts: blocks below
    /// `keep.block`, receipts below `keep.receipts` (nothing at or above the finalized
    /// head, nor genesis, nor an epoch-end record; a block's receipts and index entries go
    /// no later than the block). Tx index entries of blocks below `keep.tx_index` go at
    /// once, whatever `max_heights`: the index's floor moves (a synced batch) and
    /// compaction drops what is below it. Otherwise unsynced small batches: a crash leaves
    /// at worst some data that the next step deletes again. Returns what went.
    pub fn prune_step(&self, keep: Oldest, max_heights: u64) -> Result<Pruned, StoreError> {
        let head = self.finalized_height()?.ok_or(StoreError::Empty)?;
        let now = self.oldest()?;
        // what is below a deleted block goes with it, whatever its own retention says
        let block_to = keep.block.min(head).max(now.block);
        let receipts_to = keep.receipts.max(block_to).min(head).max(now.receipts);
        let index_to = keep.tx_index.max(block_to).min(head).max(now.tx_index);
        let mut out = Pruned::default();
        let mut batch = WriteBatch::default();
        let meta = self.cf(CF_META)?;
        // the tx index: moving its floor prunes every entry below at once (lookups ignore
        // them from now on, compaction drops them); nothing is read, however many heights
        let index_from = now.tx_index.max(1);
        let index_end = index_to.max(index_from);
        if index_from < index_end {
            batch.put_cf(meta, META_OLDEST_TX_INDEX, index_end.to_be_bytes());
            out.tx_index = index_end - index_from;
        }
        let receipts_from = now.receipts.max(1);
        let receipts_end = receipts_to.min(receipts_from.saturating_add(max_heights));
        if receipts_from < receipts_end {
            batch.delete_range_cf(
                self.cf(CF_RECEIPTS)?,
                height_key(receipts_from),
                height_key(receipts_end),
            );
            out.receipts = receipts_end - receipts_from;
            batch.put_cf(meta, META_OLDEST_RECEIPTS, receipts_end.to_be_bytes());
        }
        // blocks only once their index entries are gone
        let block_from = now.block.max(1);
        let block_end = block_to
            .min(block_from.saturating_add(max_heights))
            .min(index_end.max(now.tx_index.max(1)));
        if block_from < block_end {
            let hashes = self.cf(CF_BLOCK_HASHES)?;
            let ends = self.cf(CF_EPOCH_ENDS)?;
            for h in block_from..block_end {
                if let Some(header) = self.header_by_height(h)? {
                    batch.delete_cf(hashes, header.id().0);
                    // an epoch end committed before the records were kept gets one now
                    if self.epoch_length > 0
                        && h.is_multiple_of(self.epoch_length)
                        && self.db.get_cf(ends, height_key(h))?.is_none()
                        && let Some(proof) =
                            self.db.get_cf(self.cf(CF_CERTIFICATES)?, height_key(h))?
                    {
                        let mut record = header.encode();
                        record.extend_from_slice(&proof);
                        batch.put_cf(ends, height_key(h), record);
                    }
                }
            }
            batch.delete_range_cf(
                self.cf(CF_BLOCKS)?,
                height_key(block_from),
                height_key(block_end),
            );
            batch.delete_range_cf(
                self.cf(CF_CERTIFICATES)?,
                height_key(block_from),
                height_key(block_end),
            );
            out.blocks = block_end - block_from;
            batch.put_cf(meta, META_OLDEST_BLOCK, block_end.to_be_bytes());
        }
        if out.tx_index > 0 {
            // lookups stop seeing these entries before their blocks go
            let lookup_was = self.tx_lookup_floor.swap(index_end, Ordering::AcqRel);
            // synced before compaction may act on the new floor: after a power loss the
            // floor read back must not be below entries already dropped
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            if let Err(e) = self.db.write_opt(batch, &wo) {
                self.tx_lookup_floor.store(lookup_was, Ordering::Release);
                return Err(e.into());
            }
            self.tx_index_floor.store(index_end, Ordering::Release);
        } else if out != Pruned::default() || !batch.is_empty() {
            self.db.write(batch)?;
        }
        Ok(out)
    }

    /// Give back the disk space of pruned blocks, certificates and receipts. RocksDB keeps
    /// deleted data in its files until compaction reaches them, which for a range nothing
    /// writes to any more can take very long (a validator keeping 2,000 blocks still held
    /// 80% of an archive node's disk after a 30-minute load; BENCHMARKS.md, 2026-12-03,
    /// ninth session). Files below L0 that hold only pruned heights are deleted at once.
    /// The pruning batches that recorded the oldest heights are synced first (a file
    /// deletion is durable at once: a power loss must not bring back an "oldest" below
    /// what is gone), and the range deletion is written again, synced, before any file
    /// goes (a dropped file may have held the only record of an earlier range deletion,
    /// which would let older copies in deeper files reappear). Nothing is compacted here: L0 files carry the
    /// range deletions and so span every height, and compacting them would rewrite the
    /// kept blocks on the commit's cores. Genesis (height 0) is outside the range; the tx
    /// index (random keys) is left to ordinary compaction, which drops what is below its
    /// floor.
    pub fn reclaim_pruned(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        let oldest = self.oldest()?;
        let ranges: Vec<(&str, u64)> = [
            (CF_BLOCKS, oldest.block),
            (CF_CERTIFICATES, oldest.block),
            (CF_RECEIPTS, oldest.receipts),
        ]
        .into_iter()
        .filter(|(_, below)| *below > 1)
        .collect();
        if ranges.is_empty() {
            return Ok(());
        }
        // the range deletions again, synced, before any file goes: a newer deletion covers
        // older copies in every level, and a crash after a file deletion finds it in place
        let mut batch = WriteBatch::default();
        for (name, below) in &ranges {
            batch.delete_range_cf(self.cf(name)?, height_key(1), height_key(*below));
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        for (name, below) in ranges {
            // both ends inclusive: up to the last pruned height, never the oldest held
            self.db.delete_file_in_range_cf(
                self.cf(name)?,
                height_key(1),
                height_key(below - 1),
            )?;
        }
        Ok(())
    }

    /// Write every memtable to files now (RocksDB's flush); the data is durable either way.
    pub fn flush(&self) -> Result<(), StoreError> {
        for name in ALL_CFS {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }

    /// The height of a snapshot whose restore began and did not finish (the state family
    /// is then partly written: restore it again before using the store).
    pub fn restoring(&self) -> Result<Option<u64>, StoreError> {
        self.meta_u64(META_RESTORING)
    }

    /// Begin restoring the snapshot after block `height` into a store that holds only
    /// genesis (or a restore that did not finish): records that a restore is under way
    /// (synced), then clears the account state. Follow with [`Store::restore_accounts`]
    /// and [`Store::finish_restore`].
    pub fn begin_restore(&self, height: u64) -> Result<(), StoreError> {
        let head = self.finalized_height()?.ok_or(StoreError::Empty)?;
        if head != 0 && self.restoring()?.is_none() {
            return Err(StoreError::Corrupt(format!(
                "a snapshot can be restored only into a new store; this one holds {head} blocks"
            )));
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(self.cf(CF_META)?, META_RESTORING, height.to_be_bytes(), &wo)?;
        let state = self.cf(CF_STATE)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(state, [0u8; 32], [0xffu8; 32]);
        batch.delete_cf(state, [0xffu8; 32]);
        self.db.write(batch)?;
        Ok(())
    }

    /// Write accounts of the snapshot being restored (unsynced: [`Store::finish_restore`]
    /// syncs everything written before it).
    pub fn restore_accounts(&self, accounts: &[(PublicKey, Account)]) -> Result<(), StoreError> {
        let state = self.cf(CF_STATE)?;
        let mut batch = WriteBatch::default();
        for (k, a) in accounts {
            batch.put_cf(state, k.0, a.to_bytes());
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Finish a restore: the snapshot's block `header`, with `epoch_ends` (header and
    /// finality proof of every epoch's last block the joining node walked, the snapshot's
    /// block last, recorded as epoch ends so this node can serve walks too), the system
    /// state, the validator sets the walk trusted, and the new finalized height, in one
    /// synced batch. Blocks before it are not held (`oldest` is the next height). The
    /// caller checked the state's root against `header`.
    pub fn finish_restore(
        &self,
        header: &BlockHeader,
        epoch_ends: &[(BlockHeader, Vec<u8>)],
        system: &SystemState,
        validator_sets: &[Vec<Validator>],
    ) -> Result<(), StoreError> {
        if self.restoring()? != Some(header.height) {
            return Err(StoreError::Corrupt(format!(
                "no restore of height {} under way",
                header.height
            )));
        }
        let mut batch = WriteBatch::default();
        let ends = self.cf(CF_EPOCH_ENDS)?;
        for (h, proof) in epoch_ends {
            let mut record = h.encode();
            record.extend_from_slice(proof);
            batch.put_cf(ends, height_key(h.height), record);
        }
        if !epoch_ends.iter().any(|(h, _)| h == header) {
            batch.put_cf(ends, height_key(header.height), header.encode());
        }
        for set in validator_sets {
            let mut bytes = Vec::new();
            put_list(&mut bytes, set);
            batch.put_cf(
                self.cf(CF_VALIDATOR_SETS)?,
                validator_set_hash(set).0,
                bytes,
            );
        }
        let meta = self.cf(CF_META)?;
        batch.put_cf(meta, META_SYSTEM, system.encode());
        batch.put_cf(meta, META_FINALIZED, height_key(header.height));
        let next = (header.height + 1).to_be_bytes();
        batch.put_cf(meta, META_OLDEST_BLOCK, next);
        batch.put_cf(meta, META_OLDEST_RECEIPTS, next);
        batch.put_cf(meta, META_OLDEST_TX_INDEX, next);
        batch.delete_cf(meta, META_RESTORING);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        self.tx_lookup_floor
            .store(header.height + 1, Ordering::Release);
        self.tx_index_floor
            .store(header.height + 1, Ordering::Release);
        Ok(())
    }

    /// The header and finality proof recorded for the epoch's last block at `height`.
    pub fn epoch_end(&self, height: u64) -> Result<Option<(BlockHeader, Vec<u8>)>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_EPOCH_ENDS)?, height_key(height))?
        {
            None => Ok(None),
            Some(v) if v.len() >= HEADER_BYTES => {
                let header: BlockHeader = decode_exact(&v[..HEADER_BYTES], self.limits)?;
                Ok(Some((header, v[HEADER_BYTES..].to_vec())))
            }
            Some(_) => Err(StoreError::Corrupt(format!(
                "epoch-end record {height} is shorter than a header"
            ))),
        }
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Corrupt(format!("column family {name} missing")))
    }

    /// The chain id stored at genesis, if any.
    pub fn chain_id(&self) -> Result<Option<Hash>, StoreError> {
        match self.db.get_cf(self.cf(CF_META)?, META_CHAIN_ID)? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_exact(&v, self.limits)?)),
        }
    }

    /// The height of the last committed block, or `None` for an empty store.
    pub fn finalized_height(&self) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(self.cf(CF_META)?, META_FINALIZED)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("finalized height is not 8 bytes".into()))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// Store the genesis block and state if the store is empty; if it already holds a
    /// chain, check it is the same one.
    pub fn init_genesis(&self, genesis: &Block, state: &LedgerState) -> Result<(), StoreError> {
        if let Some(stored) = self.chain_id()? {
            if stored != genesis.header.chain_id {
                return Err(StoreError::WrongChain {
                    expected: genesis.header.chain_id,
                    stored,
                });
            }
            let stored_genesis = self.block_by_height(0)?.ok_or(StoreError::Empty)?;
            if stored_genesis.id() != genesis.id() {
                return Err(StoreError::Corrupt(
                    "stored genesis block differs from the genesis document".into(),
                ));
            }
            return Ok(());
        }
        let mut accounts: Vec<Change> = Vec::new();
        collect_accounts(&state.accounts, &mut accounts);
        self.write_commit(
            &Commit {
                block: genesis,
                receipts: &[],
                changes: &accounts,
                system: &state.system,
                certificate: &[],
            },
            true,
        )
    }

    /// Commit the next finalized block atomically, with sync.
    pub fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let height = commit.block.header.height;
        let head = self.finalized_height()?.ok_or(StoreError::Empty)?;
        if height != head + 1 {
            return Err(StoreError::NotNext {
                expected: head + 1,
                got: height,
            });
        }
        let parent = self
            .header_by_height(head)?
            .ok_or_else(|| StoreError::Corrupt(format!("head block {head} missing")))?;
        if commit.block.header.parent != parent.id() {
            return Err(StoreError::ParentMismatch { height });
        }
        let new_set = commit.block.header.validators_hash != parent.validators_hash;
        self.write_commit(commit, new_set)
    }

    /// Write one block. `new_set`: the header names a validator set its parent did not
    /// (always at genesis), recorded so light clients and joining nodes can follow it.
    fn write_commit(&self, c: &Commit<'_>, new_set: bool) -> Result<(), StoreError> {
        let genesis = c.block.header.height == 0;
        if c.receipts.len() != c.block.txs.len() {
            return Err(StoreError::ReceiptCount {
                receipts: c.receipts.len(),
                txs: c.block.txs.len(),
            });
        }
        let height = c.block.header.height;
        let hk = height_key(height);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BLOCKS)?, hk, c.block.encode());
        batch.put_cf(self.cf(CF_BLOCK_HASHES)?, c.block.id().0, hk);
        let mut receipts = Vec::with_capacity(c.receipts.len() * 40);
        put_list(&mut receipts, c.receipts);
        batch.put_cf(self.cf(CF_RECEIPTS)?, hk, receipts);
        batch.put_cf(self.cf(CF_CERTIFICATES)?, hk, c.certificate);
        self.index_txs(&mut batch, c, height)?;
        let state_cf = self.cf(CF_STATE)?;
        for (key, account) in c.changes {
            match account {
                Some(a) => batch.put_cf(state_cf, key.0, a.to_bytes()),
                None => batch.delete_cf(state_cf, key.0),
            }
        }
        if self.epoch_length > 0 && height > 0 && height.is_multiple_of(self.epoch_length) {
            let mut record = c.block.header.encode();
            record.extend_from_slice(c.certificate);
            batch.put_cf(self.cf(CF_EPOCH_ENDS)?, hk, record);
        }
        let meta = self.cf(CF_META)?;
        batch.put_cf(meta, META_SYSTEM, c.system.encode());
        batch.put_cf(meta, META_FINALIZED, hk);
        if genesis {
            batch.put_cf(meta, META_CHAIN_ID, c.block.header.chain_id.0);
        }
        if new_set || genesis {
            let mut set = Vec::new();
            put_list(&mut set, &c.system.validators);
            if validator_set_hash(&c.system.validators) != c.block.header.validators_hash {
                return Err(StoreError::Corrupt(format!(
                    "block {height} names a validator set other than its state's",
                )));
            }
            batch.put_cf(
                self.cf(CF_VALIDATOR_SETS)?,
                c.block.header.validators_hash.0,
                set,
            );
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Add tx index entries. A transaction can be included more than once (the later copies
    /// are rejected): the index keeps the inclusion that consumed the sender's nonce, of
    /// which there is at most one, else the first.
    fn index_txs(
        &self,
        batch: &mut WriteBatch,
        c: &Commit<'_>,
        height: u64,
    ) -> Result<(), StoreError> {
        let cf = self.cf(CF_TX_INDEX)?;
        let mut written: crate::FastMap<Hash, bool> =
            crate::FastMap::with_capacity_and_hasher(c.block.txs.len(), Default::default());
        // Transactions that did not consume a nonce might be re-inclusions: look them up.
        let maybe_dup: Vec<usize> = (0..c.block.txs.len())
            .filter(|i| !c.receipts[*i].consumed_nonce())
            .collect();
        let existing = self
            .db
            .multi_get_cf(maybe_dup.iter().map(|i| (cf, c.block.txs[*i].id().0)));
        let mut already_indexed = crate::FastSet::default();
        let floor = self.tx_lookup_floor.load(Ordering::Acquire);
        for (i, found) in maybe_dup.iter().zip(existing) {
            // an entry of a pruned height is gone, though compaction has not dropped it yet
            if found?.is_some_and(|v| tx_index_height(&v).is_none_or(|h| h >= floor)) {
                already_indexed.insert(*i);
            }
        }
        let mut entries: Vec<(Hash, u32)> = Vec::with_capacity(c.block.txs.len());
        for (i, (tx, receipt)) in c.block.txs.iter().zip(c.receipts).enumerate() {
            let id = tx.id();
            let consumed = receipt.consumed_nonce();
            let skip = match written.get(&id) {
                Some(prev_consumed) => *prev_consumed || !consumed,
                None => !consumed && already_indexed.contains(&i),
            };
            if skip {
                continue;
            }
            if written.insert(id, consumed).is_some() {
                // this copy consumed the nonce: it replaces the earlier entry
                entries.retain(|(e, _)| *e != id);
            }
            entries.push((id, i as u32));
        }
        // in key order: RocksDB's memtable inserts a sorted run of keys next to each other
        // instead of searching its skip list from the top for each (random) id
        entries.sort_unstable_by_key(|(id, _)| *id);
        for (id, i) in entries {
            let mut v = [0u8; 12];
            v[..8].copy_from_slice(&height.to_be_bytes());
            v[8..].copy_from_slice(&i.to_be_bytes());
            batch.put_cf(cf, id.0, v);
        }
        Ok(())
    }

    /// The block at `height`.
    pub fn block_by_height(&self, height: u64) -> Result<Option<Block>, StoreError> {
        match self.db.get_cf(self.cf(CF_BLOCKS)?, height_key(height))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_exact(&v, self.limits)?)),
        }
    }

    /// The header at `height` (decodes only the header).
    pub fn header_by_height(&self, height: u64) -> Result<Option<BlockHeader>, StoreError> {
        // pinned: the header is read in place, not copied out with the whole block
        match self
            .db
            .get_pinned_cf(self.cf(CF_BLOCKS)?, height_key(height))?
        {
            None => Ok(self.epoch_end(height)?.map(|(h, _)| h)),
            Some(v) => Ok(Some(BlockHeader::decode(&mut Reader::new(
                &v,
                self.limits,
            ))?)),
        }
    }

    /// The height of the block with id `hash`.
    pub fn height_of(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(self.cf(CF_BLOCK_HASHES)?, hash.0)? {
            None => Ok(None),
            Some(v) => {
                let b: [u8; 8] = v.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt("block hash index entry is not 8 bytes".into())
                })?;
                Ok(Some(u64::from_be_bytes(b)))
            }
        }
    }

    /// The block with id `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        match self.height_of(hash)? {
            None => Ok(None),
            Some(h) => self.block_by_height(h),
        }
    }

    /// The receipts of the block at `height`.
    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        match self.db.get_cf(self.cf(CF_RECEIPTS)?, height_key(height))? {
            None => Ok(None),
            Some(v) => {
                let mut r = Reader::new(&v, self.limits);
                let list = r.list(self.limits.max_block_txs, "receipts")?;
                r.finish()?;
                Ok(Some(list))
            }
        }
    }

    /// The finality certificate stored with the block at `height`.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_CERTIFICATES)?, height_key(height))?
        {
            Some(c) => Ok(Some(c)),
            None => Ok(self.epoch_end(height)?.map(|(_, proof)| proof)),
        }
    }

    /// The validator set whose hash is `hash` (as a header's `validators_hash` names it),
    /// if a committed header named it.
    pub fn validator_set(&self, hash: &Hash) -> Result<Option<Vec<Validator>>, StoreError> {
        match self.db.get_cf(self.cf(CF_VALIDATOR_SETS)?, hash.0)? {
            None => Ok(None),
            Some(v) => {
                let mut r = Reader::new(&v, self.limits);
                let list: Vec<Validator> = r.list(self.limits.max_list_len, "validators")?;
                r.finish()?;
                if validator_set_hash(&list) != *hash {
                    return Err(StoreError::Corrupt(format!(
                        "validator set {hash} does not hash to its key"
                    )));
                }
                Ok(Some(list))
            }
        }
    }

    /// Where the transaction with id `id` was included (`None` also when its height's
    /// index entries are pruned).
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some(v) = self.db.get_cf(self.cf(CF_TX_INDEX)?, id.0)? else {
            return Ok(None);
        };
        let height = tx_index_height(&v)
            .ok_or_else(|| StoreError::Corrupt("tx index entry is not 12 bytes".into()))?;
        if height < self.tx_lookup_floor.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut i = [0u8; 4];
        i.copy_from_slice(&v[8..]);
        Ok(Some(TxLocation {
            height,
            index: u32::from_be_bytes(i),
        }))
    }

    /// The transaction with id `id`, its receipt and location; `None` also when its block
    /// was pruned.
    pub fn tx(&self, id: &Hash) -> Result<Option<IncludedTx>, StoreError> {
        let Some(location) = self.tx_location(id)? else {
            return Ok(None);
        };
        let height = location.height;
        let Some(block) = self.block_by_height(height)? else {
            // pruned between the lookup and this read
            if height < self.oldest()?.block {
                return Ok(None);
            }
            return Err(StoreError::Corrupt(format!(
                "tx index points at missing block {height}"
            )));
        };
        let receipts = self.receipts(height)?;
        if receipts.is_none() && height >= self.oldest()?.receipts {
            return Err(StoreError::Corrupt(format!(
                "receipts of block {height} missing"
            )));
        }
        let i = location.index as usize;
        match block.txs.get(i) {
            Some(tx) if tx.id() == *id => {
                let receipt = match receipts {
                    None => None,
                    Some(r) => Some(r.get(i).cloned().ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "block {height} has fewer receipts than transactions"
                        ))
                    })?),
                };
                Ok(Some(IncludedTx {
                    tx: tx.clone(),
                    receipt,
                    location,
                }))
            }
            _ => Err(StoreError::Corrupt(format!(
                "tx index entry for {id} points at the wrong place"
            ))),
        }
    }

    /// The committed account under `key` (all zeros if absent).
    pub fn account(&self, key: &PublicKey) -> Result<Account, StoreError> {
        match self.db.get_cf(self.cf(CF_STATE)?, key.0)? {
            None => Ok(Account::default()),
            Some(v) => Ok(decode_exact(&v, self.limits)?),
        }
    }

    /// The system state as of the last committed block.
    pub fn system_state(&self) -> Result<SystemState, StoreError> {
        match self.db.get_cf(self.cf(CF_META)?, META_SYSTEM)? {
            None => Err(StoreError::Empty),
            Some(v) => Ok(decode_exact(&v, self.limits)?),
        }
    }

    /// Rebuild the state of the last committed block and check it against that block's
    /// state root. Returns the state and the head header.
    pub fn load_state(&self) -> Result<(LedgerState, BlockHeader), StoreError> {
        let height = self.finalized_height()?.ok_or(StoreError::Empty)?;
        let header = self
            .header_by_height(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("head block {height} missing")))?;
        let mut accounts = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_STATE)?, IteratorMode::Start) {
            let (k, v) = item?;
            let key: [u8; 32] = k
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("state key is not 32 bytes".into()))?;
            accounts.push((PublicKey(key), decode_exact::<Account>(&v, self.limits)?));
        }
        let state = LedgerState {
            accounts: AccountTree::from_sorted(&accounts),
            system: self.system_state()?,
            height,
        };
        if state.root() != header.state_root {
            return Err(StoreError::Corrupt(format!(
                "state root {} does not match block {height}'s {}",
                state.root(),
                header.state_root
            )));
        }
        // a store written before sets were recorded learns at least the current one
        if self.validator_set(&header.validators_hash)?.is_none() {
            let mut set = Vec::new();
            put_list(&mut set, &state.system.validators);
            self.db
                .put_cf(self.cf(CF_VALIDATOR_SETS)?, header.validators_hash.0, set)?;
        }
        Ok((state, header))
    }
}

fn collect_accounts(tree: &AccountTree, out: &mut Vec<Change>) {
    tree.for_each(|k, a| out.push((*k, Some(*a))));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a panic is a failed test

    use super::*;

    /// Bytes of write-ahead log files in the store's directory.
    fn wal_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    }

    /// 48 MB into the tx index (whose memtable flushes every 16 MiB) after one small write
    /// to `meta` (whose memtable then holds the oldest log entry for ever).
    fn fill(store: &Store) {
        let meta = store.db.cf_handle(CF_META).unwrap();
        store.db.put_cf(meta, b"pinned", b"1").unwrap();
        let index = store.db.cf_handle(CF_TX_INDEX).unwrap();
        let value = vec![7u8; 1024];
        for i in 0u64..48_000 {
            let key = blake3::hash(&i.to_le_bytes());
            store.db.put_cf(index, key.as_bytes(), &value).unwrap();
        }
    }

    /// Index entries of heights below the floor read as absent at once, compaction drops
    /// them (and only them), and the floor survives a reopen.
    #[test]
    fn compaction_drops_the_index_entries_below_the_pruning_floor() {
        let dir = tempfile::tempdir().unwrap();
        let id = |h: u64, i: u32| {
            let mut b = h.to_le_bytes().to_vec();
            b.extend_from_slice(&i.to_le_bytes());
            Hash(*blake3::hash(&b).as_bytes())
        };
        let entries = |store: &Store| {
            let index = store.db.cf_handle(CF_TX_INDEX).unwrap();
            let mut heights = std::collections::BTreeMap::<u64, usize>::new();
            for item in store.db.iterator_cf(index, IteratorMode::Start) {
                let (_, v) = item.unwrap();
                *heights.entry(tx_index_height(&v).unwrap()).or_default() += 1;
            }
            heights
        };
        {
            let store = Store::open(dir.path(), Limits::default()).unwrap();
            let index = store.db.cf_handle(CF_TX_INDEX).unwrap();
            for h in 1..=40u64 {
                let mut batch = WriteBatch::default();
                for i in 0..500u32 {
                    let mut v = [0u8; 12];
                    v[..8].copy_from_slice(&h.to_be_bytes());
                    v[8..].copy_from_slice(&i.to_be_bytes());
                    batch.put_cf(index, id(h, i).0, v);
                }
                store.db.write(batch).unwrap();
                if h % 10 == 0 {
                    store.flush().unwrap();
                }
            }
            assert_eq!(entries(&store).len(), 40);
            // what `prune_step` does to the index: the floor, synced, then in memory
            let mut batch = WriteBatch::default();
            batch.put_cf(
                store.cf(CF_META).unwrap(),
                META_OLDEST_TX_INDEX,
                25u64.to_be_bytes(),
            );
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            store.db.write_opt(batch, &wo).unwrap();
            store.tx_lookup_floor.store(25, Ordering::Release);
            store.tx_index_floor.store(25, Ordering::Release);
            assert_eq!(store.tx_location(&id(24, 7)).unwrap(), None);
            assert_eq!(
                store.tx_location(&id(25, 7)).unwrap(),
                Some(TxLocation {
                    height: 25,
                    index: 7
                })
            );
            assert_eq!(entries(&store).len(), 40, "still in the files");
        }
        let store = Store::open(dir.path(), Limits::default()).unwrap();
        assert_eq!(
            store.tx_location(&id(3, 0)).unwrap(),
            None,
            "floor reloaded"
        );
        let index = store.db.cf_handle(CF_TX_INDEX).unwrap();
        store
            .db
            .compact_range_cf(index, None::<&[u8]>, None::<&[u8]>);
        let left = entries(&store);
        assert_eq!(
            left.keys().copied().collect::<Vec<_>>(),
            (25..=40).collect::<Vec<_>>()
        );
        assert!(left.values().all(|n| *n == 500), "{left:?}");
    }

    #[test]
    fn the_write_ahead_log_is_bounded_when_a_family_is_rarely_written() {
        let bounded = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal(bounded.path(), Limits::default(), 4 << 20).unwrap();
        fill(&store);
        // the limit asks for a flush of the family that pins the oldest log; that flush and
        // the deletion of the logs it frees run on background threads, which on a loaded
        // 2-core runner can lag the writes by seconds (CI saw 18 MB right after the fill)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut with_limit = wal_bytes(bounded.path());
        while with_limit >= 16 << 20 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            with_limit = wal_bytes(bounded.path());
        }
        drop(store);
        // RocksDB's default keeps every log since `meta`'s write
        let unbounded = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal(unbounded.path(), Limits::default(), 0).unwrap();
        fill(&store);
        let without = wal_bytes(unbounded.path());
        assert!(
            without > 40 << 20,
            "without a limit: {without} bytes of log"
        );
        assert!(
            with_limit < 16 << 20,
            "with a 4 MiB limit: {with_limit} bytes of log"
        );
    }
}
