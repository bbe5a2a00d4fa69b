# pragma version ==0.4.3
# pragma evm-version cancun
# pragma optimize gas
"""
@title Anchor
@notice Records signed checkpoints of append-only Merkle logs (RFC 9162, C2SP tlog
        checkpoints): per log, the root hash of each anchored tree size.
@dev    A log is named by log_id = sha256(its checkpoint origin line, UTF-8, no newline).
        Only the owner (the deployer, the log operator) anchors. Anchors only move forward:
        a size smaller than the latest anchored one is refused, unless it is an already
        anchored (size, root) sent again, which is accepted and changes nothing. A different
        root for an anchored size (a forked log) is refused. Every accepted anchor emits
        Anchored, so each anchoring transaction carries its own proof. Each anchor writes
        the same storage whatever the size of the log, so its cost is constant.
"""

event Anchored:
    log_id: indexed(bytes32)
    size: uint256
    root: bytes32

owner: public(address)
# log_id -> tree size -> root hash; zero where that size was never anchored.
root_of: public(HashMap[bytes32, HashMap[uint256, bytes32]])
# log_id -> the largest tree size anchored.
latest_size: public(HashMap[bytes32, uint256])


@deploy
def __init__():
    self.owner = msg.sender


@external
def anchor(log_id: bytes32, size: uint256, root: bytes32):
    assert msg.sender == self.owner, "anchor: not the owner"
    assert root != empty(bytes32), "anchor: empty root"
    known: bytes32 = self.root_of[log_id][size]
    if known != empty(bytes32):
        assert known == root, "anchor: different root for an anchored size"
    else:
        assert size >= self.latest_size[log_id], "anchor: size below the latest anchored"
        self.root_of[log_id][size] = root
        self.latest_size[log_id] = size
    log Anchored(log_id=log_id, size=size, root=root)
