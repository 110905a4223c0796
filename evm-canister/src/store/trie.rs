//! Ethereum's Merkle-Patricia tries, kept up to date in stable memory.
//!
//! Every node is stored under its *path* (the nibbles from the root to
//! where it starts) rather than under its hash, so the trie holds only the
//! current state and a change rewrites just the nodes on the changed key's
//! path: updating the state root costs O(depth) per changed key, however
//! large the state. alloy-trie provides the node types, their RLP and the
//! hashing, but no trie that can be updated in place (its `HashBuilder`
//! builds a root from all sorted leaves), hence this module.
//!
//! ```text
//!  node key (66 bytes): tag (0 = accounts, 1 = storage) | owner (keccak of the
//!  address for a storage trie, zeros otherwise) | path length | path (packed nibbles)
//!  node value: the node's RLP (alloy_trie::nodes::TrieNode)
//! ```

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::nodes::{BranchNode, ExtensionNode, LeafNode, RlpNode, TrieNode};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieMask};
use ic_stable_structures::{BTreeMap, Memory};

use crate::store::layout::Vm;

/// Which trie: the account trie, or one account's storage trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrieId {
    Accounts,
    /// The storage trie of the account whose address hashes to this.
    Storage(B256),
}

type NodeKey = [u8; 66];

fn node_key(id: TrieId, path: &[u8]) -> NodeKey {
    let mut key = [0u8; 66];
    if let TrieId::Storage(owner) = id {
        key[0] = 1;
        key[1..33].copy_from_slice(owner.as_slice());
    }
    key[33] = path.len() as u8;
    for (i, nibble) in path.iter().enumerate() {
        key[34 + i / 2] |= if i % 2 == 0 { nibble << 4 } else { *nibble };
    }
    key
}

/// The nibbles of a 32-byte key (alloy-trie's unpacking, as a plain vector
/// the path walk slices).
fn nibbles(key: &B256) -> Vec<u8> {
    Nibbles::unpack(key).to_vec()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn nib(path: &[u8]) -> Nibbles {
    Nibbles::from_nibbles(path)
}

fn rlp_of(node: &TrieNode) -> RlpNode {
    node.rlp(&mut Vec::new())
}

/// All tries of the state, in one stable map.
pub struct Tries<M: Memory> {
    nodes: BTreeMap<NodeKey, Vec<u8>, Vm<M>>,
}

impl<M: Memory> Tries<M> {
    pub fn init(memory: Vm<M>) -> Self {
        Self { nodes: BTreeMap::init(memory) }
    }

    fn load(&self, id: TrieId, path: &[u8]) -> Option<TrieNode> {
        let bytes = self.nodes.get(&node_key(id, path))?;
        Some(TrieNode::decode(&mut bytes.as_slice()).expect("stored trie nodes decode"))
    }

    fn store(&mut self, id: TrieId, path: &[u8], node: &TrieNode) {
        let mut bytes = Vec::with_capacity(node.length());
        node.encode(&mut bytes);
        self.nodes.insert(node_key(id, path), bytes);
    }

    fn remove(&mut self, id: TrieId, path: &[u8]) {
        self.nodes.remove(&node_key(id, path));
    }

    /// The root hash of trie `id`.
    pub fn root(&self, id: TrieId) -> B256 {
        match self.nodes.get(&node_key(id, &[])) {
            Some(rlp) => keccak256(rlp),
            None => EMPTY_ROOT_HASH,
        }
    }

    /// Sets `key` (already hashed) to `value`, or removes it if `None`.
    pub fn set(&mut self, id: TrieId, key: &B256, value: Option<&[u8]>) {
        self.update(id, &mut Vec::with_capacity(64), &nibbles(key), value);
    }

    /// Removes every node of trie `id`.
    pub fn clear(&mut self, id: TrieId) {
        let first = node_key(id, &[]);
        let mut last = [0xff; 66];
        last[..33].copy_from_slice(&first[..33]);
        let keys: Vec<NodeKey> = self.nodes.keys_range(first..=last).collect();
        for key in keys {
            self.nodes.remove(&key);
        }
    }

    /// The RLP of the nodes on `key`'s path that a proof needs: the root,
    /// and every node that its parent references by hash.
    pub fn proof(&self, id: TrieId, key: &B256) -> Vec<Bytes> {
        let key = nibbles(key);
        let mut proof = Vec::new();
        let mut path = Vec::new();
        while let Some(node) = self.load(id, &path) {
            let mut rlp = Vec::new();
            node.encode(&mut rlp);
            // Nodes shorter than a hash are inlined in their parent.
            if path.is_empty() || rlp.len() >= 32 {
                proof.push(Bytes::from(rlp));
            }
            let rest = &key[path.len()..];
            match node {
                TrieNode::Branch(_) if !rest.is_empty() => path.push(rest[0]),
                TrieNode::Extension(ext) if rest.starts_with(&ext.key.to_vec()) => {
                    path.extend(ext.key.to_vec())
                }
                _ => break,
            }
        }
        proof
    }

    /// Applies a change below `path`; returns the node now at `path`, which
    /// is stored (or removed, if `None`).
    fn update(
        &mut self,
        id: TrieId,
        path: &mut Vec<u8>,
        rest: &[u8],
        value: Option<&[u8]>,
    ) -> Option<TrieNode> {
        let node = self.load(id, path);
        let result = match node {
            None => value.map(|v| leaf(rest, v)),
            Some(TrieNode::Leaf(old)) => {
                let key = old.key.to_vec();
                if key == rest {
                    value.map(|v| leaf(rest, v))
                } else if let Some(v) = value {
                    // Two leaves: a branch where they part, after their common prefix.
                    let common = common_prefix(&key, rest);
                    let base = path.len() + common;
                    path.extend_from_slice(&rest[..common]);
                    let old_leaf = leaf(&key[common + 1..], &old.value);
                    let new_leaf = leaf(&rest[common + 1..], v);
                    self.store_at(id, path, key[common], &old_leaf);
                    self.store_at(id, path, rest[common], &new_leaf);
                    let branch = branch(&[
                        (key[common], rlp_of(&old_leaf)),
                        (rest[common], rlp_of(&new_leaf)),
                    ]);
                    let node = self.extend_to(id, path, base - common, common, branch);
                    path.truncate(base - common);
                    Some(node)
                } else {
                    Some(TrieNode::Leaf(old))
                }
            }
            Some(TrieNode::Extension(ext)) => {
                let key = ext.key.to_vec();
                if rest.starts_with(&key) {
                    let len = path.len();
                    path.extend_from_slice(&key);
                    let child = self.update(id, path, &rest[key.len()..], value);
                    path.truncate(len);
                    match child {
                        None => None,
                        Some(TrieNode::Branch(b)) => Some(TrieNode::Extension(ExtensionNode::new(
                            nib(&key),
                            rlp_of(&TrieNode::Branch(b)),
                        ))),
                        // The branch below collapsed: merge with what it became.
                        Some(TrieNode::Extension(below)) => {
                            self.remove_at(id, path, &key);
                            Some(TrieNode::Extension(ExtensionNode::new(
                                nib(&[key, below.key.to_vec()].concat()),
                                below.child,
                            )))
                        }
                        Some(TrieNode::Leaf(below)) => {
                            self.remove_at(id, path, &key);
                            Some(leaf(&[key, below.key.to_vec()].concat(), &below.value))
                        }
                        Some(TrieNode::EmptyRoot) => unreachable!("never stored"),
                    }
                } else if let Some(v) = value {
                    // The new key leaves the extension part-way: split it.
                    let common = common_prefix(&key, rest);
                    let base = path.len();
                    path.extend_from_slice(&rest[..common]);
                    let old_side = if key.len() > common + 1 {
                        let shorter = TrieNode::Extension(ExtensionNode::new(
                            nib(&key[common + 1..]),
                            ext.child,
                        ));
                        self.store_at(id, path, key[common], &shorter);
                        rlp_of(&shorter)
                    } else {
                        // The extension's child already sits at that path.
                        ext.child
                    };
                    let new_leaf = leaf(&rest[common + 1..], v);
                    self.store_at(id, path, rest[common], &new_leaf);
                    let branch =
                        branch(&[(key[common], old_side), (rest[common], rlp_of(&new_leaf))]);
                    let node = self.extend_to(id, path, base, common, branch);
                    path.truncate(base);
                    Some(node)
                } else {
                    Some(TrieNode::Extension(ext))
                }
            }
            Some(TrieNode::Branch(b)) => {
                let n = rest[0];
                path.push(n);
                let child = self.update(id, path, &rest[1..], value);
                path.pop();
                let mut children = children_of(&b);
                children[n as usize] = child.as_ref().map(rlp_of);
                let present: Vec<u8> =
                    (0..16u8).filter(|i| children[*i as usize].is_some()).collect();
                match present.as_slice() {
                    [] => None,
                    [only] => {
                        // One child left: the branch goes.
                        let only = *only;
                        path.push(only);
                        let below = self.load(id, path).expect("a branch's child is stored");
                        let node = match below {
                            TrieNode::Leaf(l) => {
                                self.remove(id, path);
                                leaf(&[&[only][..], &l.key.to_vec()].concat(), &l.value)
                            }
                            TrieNode::Extension(e) => {
                                self.remove(id, path);
                                TrieNode::Extension(ExtensionNode::new(
                                    nib(&[&[only][..], &e.key.to_vec()].concat()),
                                    e.child,
                                ))
                            }
                            branch @ TrieNode::Branch(_) => TrieNode::Extension(
                                ExtensionNode::new(nib(&[only]), rlp_of(&branch)),
                            ),
                            TrieNode::EmptyRoot => unreachable!("never stored"),
                        };
                        path.pop();
                        Some(node)
                    }
                    _ => {
                        let pairs: Vec<(u8, RlpNode)> = present
                            .iter()
                            .map(|i| (*i, children[*i as usize].clone().unwrap()))
                            .collect();
                        Some(branch(&pairs))
                    }
                }
            }
            Some(TrieNode::EmptyRoot) => unreachable!("never stored"),
        };
        match &result {
            Some(node) => self.store(id, path, node),
            None => self.remove(id, path),
        }
        result
    }

    fn store_at(&mut self, id: TrieId, path: &mut Vec<u8>, nibble: u8, node: &TrieNode) {
        path.push(nibble);
        self.store(id, path, node);
        path.pop();
    }

    fn remove_at(&mut self, id: TrieId, path: &mut Vec<u8>, suffix: &[u8]) {
        let len = path.len();
        path.extend_from_slice(suffix);
        self.remove(id, path);
        path.truncate(len);
    }

    /// With `path` = base + `common` nibbles, stores `branch` there and returns
    /// the node for `base`: the branch itself, or an extension leading to it.
    fn extend_to(
        &mut self,
        id: TrieId,
        path: &[u8],
        base: usize,
        common: usize,
        branch: TrieNode,
    ) -> TrieNode {
        if common == 0 {
            return branch;
        }
        self.store(id, path, &branch);
        TrieNode::Extension(ExtensionNode::new(nib(&path[base..]), rlp_of(&branch)))
    }
}

fn leaf(key: &[u8], value: &[u8]) -> TrieNode {
    TrieNode::Leaf(LeafNode::new(nib(key), value.to_vec()))
}

fn branch(children: &[(u8, RlpNode)]) -> TrieNode {
    let mut sorted = children.to_vec();
    sorted.sort_by_key(|(n, _)| *n);
    let mut mask = TrieMask::default();
    for (n, _) in &sorted {
        mask.set_bit(*n);
    }
    TrieNode::Branch(BranchNode::new(sorted.into_iter().map(|(_, rlp)| rlp).collect(), mask))
}

fn children_of(branch: &BranchNode) -> [Option<RlpNode>; 16] {
    let mut out: [Option<RlpNode>; 16] = Default::default();
    let mut stack = branch.stack.iter();
    for n in 0..16u8 {
        if branch.state_mask.is_bit_set(n) {
            out[n as usize] = stack.next().cloned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trie nodes are keyed by trie and path; a change here orphans every
    /// stored node, so it is pinned (and needs a LAYOUT_VERSION bump).
    #[test]
    fn node_key_layout() {
        let keys = [
            alloy_primitives::hex::encode(node_key(TrieId::Accounts, &[])),
            alloy_primitives::hex::encode(node_key(TrieId::Accounts, &[0xa, 0xb, 0xc])),
            alloy_primitives::hex::encode(node_key(TrieId::Storage(B256::repeat_byte(0x33)), &[1])),
        ];
        assert_eq!(keys.join("\n"), [
            "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "00000000000000000000000000000000000000000000000000000000000000000003abc0000000000000000000000000000000000000000000000000000000000000",
            "013333333333333333333333333333333333333333333333333333333333333333011000000000000000000000000000000000000000000000000000000000000000",
        ]
        .join("\n"), "the trie node key layout changed: bump LAYOUT_VERSION");
    }
    use crate::store::layout::{self, Layout};
    use alloy_primitives::U256;
    use alloy_trie::HashBuilder;
    use ic_stable_structures::DefaultMemoryImpl;
    use std::collections::BTreeMap as Map;

    fn tries() -> Tries<DefaultMemoryImpl> {
        Tries::init(Layout::init(DefaultMemoryImpl::default()).get(layout::TRIES))
    }

    /// The root alloy-trie computes from all leaves at once.
    fn expected_root(entries: &Map<B256, Vec<u8>>) -> B256 {
        let mut builder = HashBuilder::default();
        for (key, value) in entries {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        builder.root()
    }

    /// A deterministic pseudo-random sequence.
    fn keys(seed: u64, n: usize) -> Vec<B256> {
        (0..n).map(|i| keccak256((seed, i as u64).abi_pack())).collect()
    }

    trait Pack {
        fn abi_pack(&self) -> Vec<u8>;
    }
    impl Pack for (u64, u64) {
        fn abi_pack(&self) -> Vec<u8> {
            [self.0.to_be_bytes(), self.1.to_be_bytes()].concat()
        }
    }

    #[test]
    fn the_empty_trie_has_the_empty_root() {
        assert_eq!(tries().root(TrieId::Accounts), EMPTY_ROOT_HASH);
    }

    #[test]
    fn incremental_roots_equal_roots_built_from_scratch() {
        let mut tries = tries();
        let mut model = Map::new();
        let all = keys(1, 300);
        // Insert, overwrite and delete in an interleaved order, checking the
        // root against alloy-trie's after each step of a sample.
        for (step, key) in all.iter().enumerate() {
            let value = alloy_rlp::encode(U256::from(step as u64 + 1));
            tries.set(TrieId::Accounts, key, Some(&value));
            model.insert(*key, value);
            if step % 3 == 2 {
                let victim = all[step / 2];
                tries.set(TrieId::Accounts, &victim, None);
                model.remove(&victim);
            }
            if step % 17 == 0 {
                assert_eq!(
                    tries.root(TrieId::Accounts),
                    expected_root(&model),
                    "after step {step}"
                );
            }
        }
        assert_eq!(tries.root(TrieId::Accounts), expected_root(&model));
        // Remove everything: back to the empty root, and no nodes left.
        for key in model.keys().copied().collect::<Vec<_>>() {
            tries.set(TrieId::Accounts, &key, None);
        }
        assert_eq!(tries.root(TrieId::Accounts), EMPTY_ROOT_HASH);
        assert!(tries.nodes.is_empty());
    }

    #[test]
    fn keys_sharing_long_prefixes_split_and_merge() {
        let mut tries = tries();
        let mut model = Map::new();
        // Keys that agree on their first 10, 11 and 40 nibbles.
        let base = B256::repeat_byte(0x5a);
        let variants: Vec<B256> = [5usize, 20, 6, 31]
            .iter()
            .map(|&i| {
                let mut k = base;
                k.0[i] ^= 0x01;
                k
            })
            .chain([base])
            .collect();
        for (i, key) in variants.iter().enumerate() {
            tries.set(TrieId::Accounts, key, Some(&[i as u8 + 1]));
            model.insert(*key, vec![i as u8 + 1]);
            assert_eq!(tries.root(TrieId::Accounts), expected_root(&model));
        }
        for key in &variants {
            tries.set(TrieId::Accounts, key, None);
            model.remove(key);
            assert_eq!(tries.root(TrieId::Accounts), expected_root(&model));
        }
    }

    #[test]
    fn storage_tries_are_separate_and_can_be_cleared() {
        let mut tries = tries();
        let (a, b) = (TrieId::Storage(B256::repeat_byte(1)), TrieId::Storage(B256::repeat_byte(2)));
        for key in keys(2, 20) {
            tries.set(a, &key, Some(b"x"));
            tries.set(b, &key, Some(b"y"));
        }
        let root_b = tries.root(b);
        tries.clear(a);
        assert_eq!(tries.root(a), EMPTY_ROOT_HASH);
        assert_eq!(tries.root(b), root_b);
        assert_eq!(tries.root(TrieId::Accounts), EMPTY_ROOT_HASH);
    }

    #[test]
    fn proofs_verify_against_the_root() {
        let mut tries = tries();
        let all = keys(3, 100);
        for key in &all {
            tries.set(TrieId::Accounts, key, Some(&alloy_rlp::encode(key.as_slice())));
        }
        let root = tries.root(TrieId::Accounts);
        for key in all.iter().take(10) {
            let proof = tries.proof(TrieId::Accounts, key);
            let expected = Some(alloy_rlp::encode(key.as_slice()));
            alloy_trie::proof::verify_proof(root, Nibbles::unpack(key), expected, proof.iter())
                .unwrap();
        }
        // A key that is absent has a proof of absence.
        let absent = keccak256(b"absent");
        let proof = tries.proof(TrieId::Accounts, &absent);
        alloy_trie::proof::verify_proof(root, Nibbles::unpack(absent), None, proof.iter()).unwrap();
    }

    #[test]
    fn proofs_cover_nodes_inlined_in_their_parent() {
        // Storage-like tries: one-byte values, so deep leaves are shorter
        // than a hash and are embedded in their parent branch.
        let mut tries = tries();
        let id = TrieId::Storage(B256::repeat_byte(7));
        let all = keys(4, 2000);
        let mut model = Map::new();
        for (i, key) in all.iter().enumerate() {
            tries.set(id, key, Some(&[i as u8 | 1]));
            model.insert(*key, vec![i as u8 | 1]);
        }
        let root = tries.root(id);
        assert_eq!(root, expected_root(&model));
        for key in all.iter().step_by(97) {
            let proof = tries.proof(id, key);
            let expected = model.get(key).cloned();
            alloy_trie::proof::verify_proof(root, Nibbles::unpack(key), expected, proof.iter())
                .unwrap();
        }
        let absent = keccak256(b"absent");
        let proof = tries.proof(id, &absent);
        alloy_trie::proof::verify_proof(root, Nibbles::unpack(absent), None, proof.iter()).unwrap();
    }
}
