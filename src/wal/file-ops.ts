// The file operations the WAL's writer performs, behind a small seam so tests can make a write
// tear or an fsync fail (simulated faults), as TigerBeetle and Prometheus test their logs.
// Replay reads through node:fs directly: reading has nothing to fake that a damaged file on
// disk does not already exercise.
import fs, { type FileHandle } from 'node:fs/promises';

export interface WalFileOps {
  /** Creates a new segment file; fails if it exists ('wx'). */
  create(filePath: string): Promise<FileHandle>;
  /** Writes buf at position; may write fewer bytes (the writer loops). */
  write(fh: FileHandle, buf: Uint8Array, position: number): Promise<number>;
  /** fdatasync(2): the data and the size, not the other metadata. */
  datasync(fh: FileHandle): Promise<void>;
  /** fsync(2) on a directory, so created and removed entries are durable. */
  fsyncDir(dirPath: string): Promise<void>;
  unlink(filePath: string): Promise<void>;
}

export const nodeFileOps: WalFileOps = {
  create: (filePath) => fs.open(filePath, 'wx'),
  write: async (fh, buf, position) => (await fh.write(buf, 0, buf.length, position)).bytesWritten,
  datasync: (fh) => fh.datasync(),
  fsyncDir: async (dirPath) => {
    const dh = await fs.open(dirPath, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  },
  unlink: (filePath) => fs.unlink(filePath),
};
