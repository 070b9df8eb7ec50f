// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @dev Identifier of a traceable object (serialized item, lot, logistic unit) on the ledger:
/// keccak256 of its GS1 EPC pure-identity URN (e.g. `urn:epc:id:sgtin:0614141.812345.6789`,
/// `urn:epc:class:lgtin:0614141.812345.L123`, `urn:epc:id:sscc:0614141.1234567890`).
/// Deriving the id on chain from the URN means an id can never disagree with its identity.
type ObjectId is bytes32;

using {eq as ==, neq as !=} for ObjectId global;

function eq(ObjectId a, ObjectId b) pure returns (bool) {
    return ObjectId.unwrap(a) == ObjectId.unwrap(b);
}

function neq(ObjectId a, ObjectId b) pure returns (bool) {
    return ObjectId.unwrap(a) != ObjectId.unwrap(b);
}

/// @dev Derives the object id of an EPC URN.
function toObjectId(string calldata epcUrn) pure returns (ObjectId) {
    return ObjectId.wrap(keccak256(bytes(epcUrn)));
}
