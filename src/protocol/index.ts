export * from './identity';
export * from './messages';
export * from './masking';
export * from './policy-check';
export * from './frames';
export * from './byte-size';
