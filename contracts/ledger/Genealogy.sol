// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ObjectRegistry} from "./ObjectRegistry.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title Genealogy
/// @notice Lot splits and merges, and transformations of inputs (lots with consumed quantities,
/// serialized components) into outputs (new lots, serialized assemblies): WIP and
/// component-to-assembly traceability (EPCIS TransformationEvent).
/// @dev Each call emits {GenealogyRecorded} with a fresh id, then one {GenealogyInputConsumed}
/// per input and one {GenealogyOutputProduced} per output: every output derives from every
/// input of the same id, so forward and backward trace rebuild from events alone. Outputs are
/// always new objects, so the genealogy graph cannot have a cycle.
abstract contract Genealogy is ObjectRegistry {
    bytes32 private constant CONSUMED = "consumed";

    /// @notice Splits a lot into new lots; the parent keeps what is not split off.
    /// @dev Requirements: the caller's partner holds the lot (unpacked, not in transit, active);
    /// outputs share its unit of measure and together take at most its quantity. Quantities are
    /// conserved: the lot loses exactly what the outputs get.
    function splitLot(ObjectId lotId, LotOutput[] calldata outputs) external whenNotPaused returns (bytes32 genealogyId) {
        (uint32 partnerId,) = _callerHolder();
        uint256 n = outputs.length;
        _checkBatch(n, MAX_CREATE_BATCH);
        LotBalance storage balance = _activeLot(lotId, partnerId);
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            total += outputs[i].quantity;
        }
        if (total > balance.quantity) revert CustodyInvalidQuantity(lotId, total, balance.quantity);
        genealogyId = _newGenealogyId();
        emit GenealogyRecorded(genealogyId, GenealogyKind.Split, partnerId);
        _consume(genealogyId, lotId, balance, total);
        for (uint256 i = 0; i < n; ++i) {
            _produceLot(genealogyId, outputs[i], balance.unitOfMeasure, partnerId);
        }
    }

    /// @notice Merges whole lots into one new lot holding their summed quantity.
    /// @dev Requirements: the caller's partner holds every input lot (as for a split), all in the
    /// output's unit of measure, and `output.quantity` equals the sum of their quantities.
    function mergeLots(ObjectId[] calldata lotIds, LotOutput calldata output)
        external
        whenNotPaused
        returns (bytes32 genealogyId)
    {
        (uint32 partnerId,) = _callerHolder();
        uint256 n = lotIds.length;
        _checkBatch(n);
        genealogyId = _newGenealogyId();
        emit GenealogyRecorded(genealogyId, GenealogyKind.Merge, partnerId);
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            LotBalance storage balance = _activeLot(lotIds[i], partnerId);
            if (balance.unitOfMeasure != output.unitOfMeasure) {
                revert CustodyUnitMismatch(lotIds[i], output.unitOfMeasure, balance.unitOfMeasure);
            }
            uint256 quantity = balance.quantity;
            total += quantity;
            _consume(genealogyId, lotIds[i], balance, quantity);
        }
        ObjectId out = _produceLot(genealogyId, output, output.unitOfMeasure, partnerId);
        if (output.quantity != total) revert CustodyInvalidQuantity(out, output.quantity, total);
    }

    /// @notice Transforms inputs into outputs: consumes quantities of lots and whole serialized
    /// items (which become decommissioned, reason "consumed"), and produces new lots and items.
    /// @dev Requirements: a Manufacturer partner holding every input (unpacked, not in transit,
    /// active); lot quantities available; item quantities 1; at least one output.
    function transform(GenealogyInput[] calldata inputs, LotOutput[] calldata lotOutputs, Registration[] calldata itemOutputs)
        external
        whenNotPaused
        returns (bytes32 genealogyId)
    {
        (uint32 partnerId,) = _callerManufacturer();
        _checkBatch(inputs.length);
        _checkBatch(lotOutputs.length + itemOutputs.length, MAX_CREATE_BATCH);
        genealogyId = _newGenealogyId();
        emit GenealogyRecorded(genealogyId, GenealogyKind.Transform, partnerId);
        for (uint256 i = 0; i < inputs.length; ++i) {
            ObjectId inputId = inputs[i].objectId;
            uint256 quantity = inputs[i].quantity;
            ObjectRecord storage record = _held(inputId, partnerId);
            if (record.status != Status.Active) revert CustodyInvalidStatus(inputId, record.status);
            if (record.kind == ObjectKind.Lot) {
                LotBalance storage balance = _balances[inputId];
                if (quantity == 0 || quantity > balance.quantity) {
                    revert CustodyInvalidQuantity(inputId, quantity, balance.quantity);
                }
                _consume(genealogyId, inputId, balance, quantity);
            } else if (record.kind == ObjectKind.Item) {
                if (quantity != 1) revert CustodyInvalidQuantity(inputId, quantity, 1);
                record.status = Status.Decommissioned;
                emit GenealogyInputConsumed(genealogyId, inputId, 1, 0);
                emit StatusChanged(inputId, Status.Active, Status.Decommissioned, CONSUMED, partnerId);
            } else {
                revert CustodyInvalidKind(inputId, record.kind);
            }
        }
        for (uint256 i = 0; i < lotOutputs.length; ++i) {
            _produceLot(genealogyId, lotOutputs[i], lotOutputs[i].unitOfMeasure, partnerId);
        }
        for (uint256 i = 0; i < itemOutputs.length; ++i) {
            ObjectId out = _registerItem(itemOutputs[i], partnerId);
            emit GenealogyOutputProduced(genealogyId, out, 1);
        }
    }

    /// @notice Quantity and unit of measure of a lot.
    function lotBalance(ObjectId lotId) external view returns (uint256 quantity, bytes3 unitOfMeasure) {
        LotBalance storage balance = _balances[lotId];
        return (balance.quantity, balance.unitOfMeasure);
    }

    function _activeLot(ObjectId lotId, uint32 partnerId) private view returns (LotBalance storage) {
        ObjectRecord storage record = _held(lotId, partnerId);
        if (record.kind != ObjectKind.Lot) revert CustodyInvalidKind(lotId, record.kind);
        if (record.status != Status.Active) revert CustodyInvalidStatus(lotId, record.status);
        return _balances[lotId];
    }

    function _consume(bytes32 genealogyId, ObjectId lotId, LotBalance storage balance, uint256 quantity) private {
        uint256 remaining = balance.quantity - quantity;
        balance.quantity = uint232(remaining);
        emit GenealogyInputConsumed(genealogyId, lotId, quantity, remaining);
    }

    function _produceLot(bytes32 genealogyId, LotOutput calldata output, bytes3 unit, uint32 partnerId)
        private
        returns (ObjectId out)
    {
        if (output.unitOfMeasure != unit) {
            revert CustodyUnitMismatch(ObjectId.wrap(keccak256(bytes(output.registration.epc))), unit, output.unitOfMeasure);
        }
        out = _registerLot(output, partnerId);
        emit GenealogyOutputProduced(genealogyId, out, output.quantity);
    }
}
