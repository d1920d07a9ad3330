#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: bwa mem
doc: Align reads with BWA-MEM; SAM is written to stdout.

requirements:
  DockerRequirement:
    dockerPull: 123456789012.dkr.ecr.us-east-1.amazonaws.com/bwa:0.7.17
  ResourceRequirement:
    coresMin: $(inputs.threads)
    ramMin: 32768

baseCommand: [bwa, mem]
arguments:
  - prefix: -K
    valueFrom: "100000000"
    position: 0
  - -Y

inputs:
  threads:
    type: int
    default: 16
    inputBinding:
      prefix: -t
      position: 0
  read_group:
    type: string?
    inputBinding:
      prefix: -R
      position: 0
  reference:
    type: File
    secondaryFiles: [.amb, .ann, .bwt, .pac, .sa]
    inputBinding:
      position: 1
  reads_1:
    type: File
    inputBinding:
      position: 2
  reads_2:
    type: File?
    inputBinding:
      position: 3
  output_name:
    type: string
    default: aligned.sam

stdout: $(inputs.output_name)

outputs:
  aligned_sam:
    type: stdout
