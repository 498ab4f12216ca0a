#!/usr/bin/env node
import { VERSION } from "@first/core";
console.log(VERSION);
