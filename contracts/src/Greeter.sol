// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Hardhat's `console.log`, sent as `hardhat/console.sol` sends it: a static
/// call to the console address with the overload's selector and arguments.
/// Nothing lives at that address; tools read the calls from traces.
library console {
    address constant CONSOLE_ADDRESS = 0x000000000000000000636F6e736F6c652e6c6f67;

    function _send(bytes memory payload) private view {
        address target = CONSOLE_ADDRESS;
        assembly ("memory-safe") {
            pop(staticcall(gas(), target, add(payload, 32), mload(payload), 0, 0))
        }
    }

    function log(string memory p0, uint256 p1) internal view {
        _send(abi.encodeWithSignature("log(string,uint256)", p0, p1));
    }
}

/// Counts greetings, logs each with `console.log` and emits `Greeted`.
contract Greeter {
    /// `by` greeted with `greeting`, the `count`th greeting.
    event Greeted(address indexed by, string greeting, uint256 count);

    /// The greeting was empty.
    error EmptyGreeting();

    uint256 public count;

    /// Counts `greeting`, logs it and emits `Greeted`.
    function greet(string calldata greeting) external {
        if (bytes(greeting).length == 0) revert EmptyGreeting();
        count += 1;
        console.log(greeting, count);
        emit Greeted(msg.sender, greeting, count);
    }
}
