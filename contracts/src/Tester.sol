// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Exercises what clients must handle: indexed events, custom errors, reason
/// strings, panics, storage, value transfers and long computations.
contract Tester {
    /// A value was stored.
    event Stored(address indexed by, uint256 indexed key, uint256 value);
    /// Something happened; nothing is indexed.
    event Note(string text);

    /// The caller asked for more than the limit.
    error TooLarge(uint256 requested, uint256 limit);
    /// The caller is not allowed.
    error Unauthorized(address caller);

    address public immutable owner;
    mapping(uint256 => uint256) public values;
    uint256 public total;

    constructor() payable {
        owner = msg.sender;
    }

    /// Stores `value` under `key` and emits `Stored`.
    function store(uint256 key, uint256 value) external {
        values[key] = value;
        total += value;
        emit Stored(msg.sender, key, value);
    }

    /// Emits `Note` with `text`.
    function note(string calldata text) external {
        emit Note(text);
    }

    /// Reverts with the custom error `TooLarge` when `amount` exceeds `limit`.
    function checkLimit(uint256 amount, uint256 limit) external pure returns (uint256) {
        if (amount > limit) revert TooLarge(amount, limit);
        return amount;
    }

    /// Reverts with a reason string unless called by the owner.
    function onlyOwner() external view returns (bool) {
        require(msg.sender == owner, "Tester: caller is not the owner");
        return true;
    }

    /// Reverts with `Unauthorized` unconditionally.
    function deny() external view {
        revert Unauthorized(msg.sender);
    }

    /// Panics with code 0x12 (division by zero) when `b` is zero.
    function divide(uint256 a, uint256 b) external pure returns (uint256) {
        return a / b;
    }

    /// Hashes `seed` `rounds` times.
    function keccakLoop(bytes32 seed, uint256 rounds) public pure returns (bytes32 h) {
        h = seed;
        for (uint256 i = 0; i < rounds; i++) {
            h = keccak256(abi.encodePacked(h));
        }
    }

    /// Like `keccakLoop`, in a transaction, storing the result.
    function keccakStore(bytes32 seed, uint256 rounds) external returns (bytes32 h) {
        h = keccakLoop(seed, rounds);
        values[0] = uint256(h);
    }

    /// Sends `amount` wei to `to`.
    function pay(address payable to, uint256 amount) external {
        (bool ok,) = to.call{value: amount}("");
        require(ok, "Tester: payment failed");
    }

    receive() external payable {}
}
