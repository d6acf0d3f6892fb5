// The package entry for asc: `import { ... } from "@imhook/sdk-assemblyscript"`.
export * from "./assembly/index";
