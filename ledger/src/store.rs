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
//!
//! A finalized block, its receipts, certificate, tx index entries, account changes, system
//! state and the new finalized height go in one `WriteBatch` written with sync, so after a
//! crash the store holds exactly the blocks whose commit returned, and maybe the one being
//! committed, never part of one. Opening rebuilds the account tree and checks its root
//! against the last header, so silent corruption is found at start.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::account::Account;
use crate::block::{Block, BlockHeader, Receipt};
use crate::codec::{Decode, DecodeError, Encode, Limits, Reader, decode_exact, put_list};
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::state::{AccountTree, Change, LedgerState, SystemState};
use crate::tx::SignedTransaction;

const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_HASHES: &str = "block_hashes";
const CF_RECEIPTS: &str = "receipts";
const CF_CERTIFICATES: &str = "certificates";
const CF_TX_INDEX: &str = "tx_index";
const CF_STATE: &str = "state";
const CF_META: &str = "meta";
const ALL_CFS: [&str; 7] = [
    CF_BLOCKS,
    CF_BLOCK_HASHES,
    CF_RECEIPTS,
    CF_CERTIFICATES,
    CF_TX_INDEX,
    CF_STATE,
    CF_META,
];

const META_CHAIN_ID: &[u8] = b"chain_id";
const META_FINALIZED: &[u8] = b"finalized_height";
const META_SYSTEM: &[u8] = b"system_state";

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
    /// Its receipt.
    pub receipt: Receipt,
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

/// The memtable of whole blocks and of receipts. Every validator writes the same bytes at
/// the same heights, so with RocksDB's default 64 MiB memtable all validators of a testnet
/// on one machine flushed ~67 MB each in the same two seconds (about 1.2 s of CPU of the
/// two cores when four nodes used 90% of them); the backlog that left was never drained
/// (BENCHMARKS.md, 2026-12-02, third session). Smaller memtables flush the same bytes in
/// pieces a quarter the size; nothing reads recent blocks from RocksDB on the hot path
/// (the node keeps them in memory), so nothing is lost by flushing sooner.
const BULK_MEMTABLE_BYTES: usize = 16 << 20;

fn height_key(h: u64) -> [u8; 8] {
    h.to_be_bytes()
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Store, StoreError> {
        let mut opts = tuned_options();
        // Compactions are background work: at the lowest CPU priority they use what the
        // validator's own threads leave idle instead of taking the cores from them in
        // bursts. Flushes (the high-priority pool) keep the normal priority: a memtable
        // that cannot be flushed stalls every write, and at nice 19 on saturated cores a
        // flush that takes 1.7 s took 17 s, the commit thread stalled behind it, blocks
        // grew to the size limit and the chain never caught up (BENCHMARKS.md, 2026-12-02).
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        opts.set_env(&env);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut o = tuned_options();
            match *name {
                CF_TX_INDEX => o.set_write_buffer_size(TX_INDEX_MEMTABLE_BYTES),
                CF_BLOCKS | CF_RECEIPTS => o.set_write_buffer_size(BULK_MEMTABLE_BYTES),
                _ => {}
            }
            ColumnFamilyDescriptor::new(*name, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Store { db, limits })
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
        self.write_commit(commit, false)
    }

    fn write_commit(&self, c: &Commit<'_>, genesis: bool) -> Result<(), StoreError> {
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
        let meta = self.cf(CF_META)?;
        batch.put_cf(meta, META_SYSTEM, c.system.encode());
        batch.put_cf(meta, META_FINALIZED, hk);
        if genesis {
            batch.put_cf(meta, META_CHAIN_ID, c.block.header.chain_id.0);
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
        for (i, found) in maybe_dup.iter().zip(existing) {
            if found?.is_some() {
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
            None => Ok(None),
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
        Ok(self
            .db
            .get_cf(self.cf(CF_CERTIFICATES)?, height_key(height))?)
    }

    /// Where the transaction with id `id` was included.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        match self.db.get_cf(self.cf(CF_TX_INDEX)?, id.0)? {
            None => Ok(None),
            Some(v) if v.len() == 12 => {
                let mut h = [0u8; 8];
                h.copy_from_slice(&v[..8]);
                let mut i = [0u8; 4];
                i.copy_from_slice(&v[8..]);
                Ok(Some(TxLocation {
                    height: u64::from_be_bytes(h),
                    index: u32::from_be_bytes(i),
                }))
            }
            Some(_) => Err(StoreError::Corrupt("tx index entry is not 12 bytes".into())),
        }
    }

    /// The transaction with id `id`, its receipt and location.
    pub fn tx(&self, id: &Hash) -> Result<Option<IncludedTx>, StoreError> {
        let Some(location) = self.tx_location(id)? else {
            return Ok(None);
        };
        let block = self.block_by_height(location.height)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tx index points at missing block {}",
                location.height
            ))
        })?;
        let receipts = self.receipts(location.height)?.ok_or_else(|| {
            StoreError::Corrupt(format!("receipts of block {} missing", location.height))
        })?;
        let i = location.index as usize;
        match (block.txs.get(i), receipts.get(i)) {
            (Some(tx), Some(receipt)) if tx.id() == *id => Ok(Some(IncludedTx {
                tx: tx.clone(),
                receipt: receipt.clone(),
                location,
            })),
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
        Ok((state, header))
    }
}

fn collect_accounts(tree: &AccountTree, out: &mut Vec<Change>) {
    tree.for_each(|k, a| out.push((*k, Some(*a))));
}
