// One EKS cluster at the migration phase its stack config names (unchain:phase). See README.md.
import { clusterProgram } from "./components/program";

// The CLI runs the program in the project directory.
export = clusterProgram({ projectDir: process.cwd() });
