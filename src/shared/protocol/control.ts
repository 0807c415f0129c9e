/**
 * The control channel's gRPC service, built from the generated schema in `control.gen.ts`.
 * This wrapper is the only place that touches protobufjs or the descriptor: the rest of the
 * code sends and receives the plain typed objects declared there.
 * @module
 */
import protobuf from "protobufjs";
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { type AgentMessage, type CloudMessage, descriptor } from "./control.gen.ts";

export type * from "./control.gen.ts";

const root = protobuf.Root.fromJSON(descriptor as unknown as protobuf.INamespace);
const agentMessage = root.lookupType("nanodems.control.v1.AgentMessage");
const cloudMessage = root.lookupType("nanodems.control.v1.CloudMessage");
const toObject: protobuf.IConversionOptions = {
  longs: Number,
  defaults: true,
  oneofs: true,
  arrays: true,
};

function codec<T>(type: protobuf.Type) {
  return {
    serialize: (value: T): Buffer => {
      const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (bytes: Buffer): T => type.toObject(type.decode(bytes), toObject) as T,
  };
}

const agentCodec = codec<AgentMessage>(agentMessage);
const cloudCodec = codec<CloudMessage>(cloudMessage);

/** Encodes an agent → cloud message (exposed for tests and tooling). */
export const encodeAgentMessage: (m: AgentMessage) => Buffer = agentCodec.serialize;
/** Decodes an agent → cloud message. */
export const decodeAgentMessage: (b: Buffer) => AgentMessage = agentCodec.deserialize;
/** Encodes a cloud → agent message. */
export const encodeCloudMessage: (m: CloudMessage) => Buffer = cloudCodec.serialize;
/** Decodes a cloud → agent message. */
export const decodeCloudMessage: (b: Buffer) => CloudMessage = cloudCodec.deserialize;

/** The `nanodems.control.v1.Control` service definition for grpc-js servers and clients. */
export const controlService = {
  Connect: {
    path: "/nanodems.control.v1.Control/Connect",
    requestStream: true,
    responseStream: true,
    requestSerialize: agentCodec.serialize,
    requestDeserialize: agentCodec.deserialize,
    responseSerialize: cloudCodec.serialize,
    responseDeserialize: cloudCodec.deserialize,
  },
} as const;

/** The service definition in grpc-js's own type. */
export const controlServiceDefinition = controlService as unknown as grpc.ServiceDefinition;
