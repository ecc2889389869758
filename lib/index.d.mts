// Types for `import` (lib/index.mjs): the same declarations as for `require`, seen as an ES module,
// so TypeScript's node16/nodenext resolution does not take the CommonJS types for an ES module.
export * from './index.js'
import partnerSync from './index.js'
export default partnerSync
