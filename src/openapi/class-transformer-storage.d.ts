// class-transformer keeps its metadata store in a module it ships without types at that path;
// class-validator-jsonschema reads nested DTO types (@Type) from it.
declare module 'class-transformer/cjs/storage' {
  export const defaultMetadataStorage: import('class-transformer/types/MetadataStorage').MetadataStorage;
}
