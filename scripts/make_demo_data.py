#!/usr/bin/env python3
"""Generate the bundled Harborbox demo retrieval data set (BEIR format).

The domain is the help center of a fictional home NAS ("Harborbox"), its
operating system HarborOS, its companion app and the Harbor Cloud Backup
subscription.  All article text and all questions are hand-written below;
a few article families (error codes, release notes) are assembled from
hand-written building blocks with a seeded RNG.  Standard library only and
fully deterministic: running it twice produces byte-identical files.

Usage:
    python scripts/make_demo_data.py [OUTPUT_DIR]

OUTPUT_DIR defaults to rerankft/demo_data/ next to this script's repository.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

SEED = 20240611
TRAIN_FRACTION = 0.7

# ---------------------------------------------------------------------------
# Passage and query registries
# ---------------------------------------------------------------------------

PASSAGES: list[tuple[str, str, str]] = []  # (key, title, text)
QUERIES: list[tuple[str, dict[str, int]]] = []  # (text, {passage key: score})


def p(key: str, title: str, text: str) -> None:
    """Register one help-center passage under a symbolic key."""
    PASSAGES.append((key, title, " ".join(text.split())))


def q(text: str, *rels: str) -> None:
    """Register a query. ``rels`` are passage keys; ``key`` = score 2,
    ``key:1`` = score 1 (partially relevant)."""
    judged: dict[str, int] = {}
    for r in rels:
        k, _, s = r.partition(":")
        judged[k] = int(s) if s else 2
    QUERIES.append((" ".join(text.split()), judged))


# ---------------------------------------------------------------------------
# Getting started
# ---------------------------------------------------------------------------

p("setup.box", "What's in the box",
  """Every Harborbox ships with the enclosure, a 65 W power adapter with a
  region-specific cord, one Cat 6 Ethernet cable, a bag of screws for 2.5-inch
  drives and a quick-start card. Diskless models arrive with empty bays; the
  HB-2 Home bundle edition comes with two 4 TB drives already installed.""")

p("setup.first", "Setting up your Harborbox for the first time",
  """Connect the Harborbox to a free port on your router or switch with the
  supplied Ethernet cable, then plug in the power adapter and press the power
  button once. The status light pulses blue while the system starts, which
  takes about three minutes. Open the Harborbox app on your phone, or browse to
  find.harborbox.com on a computer in the same network, and choose Set up new
  device. You will create the owner account, pick a storage layout for the
  installed drives and let the wizard download the latest HarborOS release.
  The whole process usually takes 10 to 15 minutes, not counting the time the
  drives need to initialize in the background. You can start copying files as
  soon as the wizard finishes, even while initialization is still running.""")

p("setup.find", "The setup wizard can't find my Harborbox",
  """The app and find.harborbox.com discover new devices with a local network
  scan, so your phone or computer has to be on the same network as the
  Harborbox. Guest Wi-Fi networks and some mesh systems isolate clients from
  each other and will hide the device. If the scan still comes up empty, look
  up the Harborbox in your router's list of connected devices (it appears as
  HARBORBOX-xxxx) and type its IP address directly into the browser, followed
  by :5080. A status light that never stops pulsing after ten minutes points
  to a startup problem rather than a network one.""")

p("setup.wifi", "Does Harborbox support Wi-Fi?",
  """No. Harborbox has no wireless radio and must be connected to your router or
  a switch with a network cable. If the router is in another room, a mesh
  satellite or powerline adapter with an Ethernet port works fine.""")

p("setup.owner", "About the owner account",
  """The first account you create during setup becomes the owner of the
  Harborbox and is a member of the administrators group. For security reasons
  the user names admin, root and administrator are reserved and can't be
  chosen. The password must be at least 10 characters long. The owner account
  cannot be deleted; to hand the device to someone else, transfer ownership
  from Control Panel > Users first.""")

p("setup.placement", "Choosing a good spot for your Harborbox",
  """Place the device on a flat, stable surface with at least 10 cm of free
  space behind the rear fan. Avoid closed cabinets, shelves directly above a
  radiator and places in direct sunlight. The supported room temperature is 5
  to 35 °C. Hard drives are sensitive to vibration, so don't put the Harborbox
  on top of a washing machine, subwoofer or printer.""")

p("setup.browser", "Setting up without the mobile app",
  """You don't need a phone to set up a Harborbox. Any computer in the same
  network can run the setup wizard in a web browser: go to
  find.harborbox.com, or type http://harborbox.local:5080 if your browser
  supports local names. The wizard is identical to the one in the app. An
  internet connection is only needed to download firmware; for an offline
  installation, download the .hbfw file on another machine and upload it when
  the wizard asks for it.""")

p("setup.models", "Comparing Harborbox models",
  """The HB-2 Home has two drive bays, 2 GB of memory and one 1 GbE port, and is
  meant for backups and photo libraries in a small household. The HB-4 Plus
  has four bays, 4 GB of memory that can be expanded to 16 GB, and two 2.5 GbE
  ports, which makes it the usual choice for families and home offices that
  also want to run apps. The HB-6 Pro adds six bays, 8 GB of ECC memory, a
  10 GbE port and two M.2 slots for an NVMe SSD cache. Only the Plus and Pro
  support hot-swapping drives and running containers.""")

p("setup.initializing", "Drives show 'Initializing' after setup",
  """After setup a new storage pool builds its protection information in the
  background. The pool is usable during this time, but transfers can be slower
  and the drives will be audible. Depending on drive size this takes from a
  few hours up to two days for large drives.""")

q("how long does the initial setup take", "setup.first")
q("my phone app doesn't see the new box on the network when I try to set it up",
  "setup.find")
q("can I put the nas on wifi instead of running a cable", "setup.wifi")
q("can I pick admin as my username", "setup.owner")
q("is it ok to keep the storage unit inside a closed TV cabinet", "setup.placement")
q("I don't have a smartphone, how do I configure the device from my laptop",
  "setup.browser", "setup.first:1")
q("which model has a 10 gig port and ssd cache slots", "setup.models")
q("what accessories are included with the diskless version", "setup.box")
q("disks are very loud and copying is slow right after I finished the wizard",
  "setup.initializing")

# ---------------------------------------------------------------------------
# Drives
# ---------------------------------------------------------------------------

p("drive.compat", "Drive compatibility",
  """Harborbox accepts 3.5-inch SATA hard drives and 2.5-inch SATA hard drives
  or SSDs. We recommend drives designed for NAS use, which are rated for
  24/7 operation. SMR (shingled) drives work, but rebuilding a RAID 5 or RAID
  6 pool made of SMR drives can take several times longer, so we advise CMR
  drives for parity pools. The largest drive size we have validated is 24 TB
  per bay. The full list of tested models is on the compatibility page of each
  product.""")

p("drive.install", "Installing drives in the bays",
  """On the HB-2 Home, shut the device down and unplug it before opening the
  front cover, because it does not support hot-swapping. Slide a tray out,
  clip a 3.5-inch drive into the tool-less rails, or fix a 2.5-inch drive with
  the four screws from the accessory bag, and push the tray back until it
  clicks. On the HB-4 Plus and HB-6 Pro you can add drives while the system is
  running.""")

p("drive.hotswap", "Replacing a drive while the Harborbox is running",
  """Hot-swapping is supported on the HB-4 Plus and HB-6 Pro. Before pulling a
  tray, open Storage > Drives, select the drive and choose Prepare for
  removal. HarborOS checks which pool the drive belongs to and warns you if
  removing it would leave the pool without protection. When the drive's light
  turns off, you can take the tray out.""")

p("drive.mix", "Can I mix drives of different sizes?",
  """Yes. In a HarborRAID pool, drives of different sizes are combined so that
  almost all of the raw space is usable. In a classic RAID 1, 5, 6 or 10 pool,
  every drive is treated as if it were as small as the smallest member, so a
  4 TB and an 8 TB drive in RAID 1 give you 4 TB. Mixing brands and speeds is
  fine, although the pool runs at the pace of the slowest drive.""")

p("drive.health", "Checking drive health",
  """Storage > Drives shows a health status for every drive: Good, Warning or
  Failing. The status is based on SMART data reported by the drive itself,
  such as reallocated sectors, pending sectors and read error rates. Click a
  drive to see the raw attributes and the results of past tests. We suggest
  scheduling a quick SMART test every week and an extended test once a month
  from the Test Schedule tab. A Warning status doesn't mean the drive has
  failed, but you should make sure your backups are current and plan a
  replacement.""")

p("drive.reuse", "Using drives that already contain data",
  """Adding a drive to a storage pool erases it completely. HarborOS cannot take
  over an existing NTFS, APFS or ext4 drive with its files intact. If you want
  to bring files from an old disk, connect it through a USB dock and copy the
  data after the pool has been created.""")

p("drive.nvme", "Using an SSD cache on the HB-6 Pro",
  """The two M.2 slots on the HB-6 Pro accept NVMe SSDs that can act as a cache
  for a storage pool. With one SSD you can create a read-only cache, which
  speeds up repeated access to frequently used small files such as databases
  or virtual machine images. A read-write cache requires two SSDs, which are
  mirrored so that unwritten data is not lost if one fails. Cache SSDs don't
  add storage capacity, and large sequential transfers such as video files
  rarely benefit from them.""")

p("drive.usb", "Using external USB drives",
  """Plug a USB drive into any USB port and it appears as a shared folder named
  usbshare1, usbshare2 and so on. Supported file systems are exFAT, FAT32,
  NTFS and ext4 with full read and write access, and HFS+ read-only. Always
  choose Eject in Storage > External Devices before you unplug the drive.""")

p("drive.ssdonly", "All-SSD storage pools",
  """You can build a pool from SATA SSDs only. HarborOS runs TRIM on SSD pools
  once a week to keep write performance steady.""")

p("drive.bad", "A drive is shown as 'Not initialized' or 'Crashed'",
  """A new drive shows Not initialized until you add it to a pool; this is
  normal. Crashed means the drive stopped responding or reported a fatal
  error. Reseat the tray once to rule out a loose connection, then check the
  SMART log. If the drive still shows as crashed, replace it and repair the
  pool.""")

q("which hard drives work with the nas", "drive.compat")
q("SMR drives raid 5 rebuild", "drive.compat")
q("do I need to turn off the HB-2 before adding a disk", "drive.install", "drive.hotswap:1")
q("safely remove a disk from the HB-4 without shutting it down", "drive.hotswap")
q("I have a 4TB and an 8TB disk, how much space will I get if I mirror them",
  "drive.mix", "raid.hraid:1", "raid.levels:1")
q("what does a yellow warning on the drive health page mean, is my disk dying",
  "drive.health", "drive.bad:1")
q("put my old windows disk with files into the nas without formatting", "drive.reuse")
q("does the nvme cache increase total storage", "drive.nvme")
q("which formats can an external usb disk have", "drive.usb")
q("disk status says crashed", "drive.bad")

# ---------------------------------------------------------------------------
# Storage pools and RAID
# ---------------------------------------------------------------------------

p("raid.overview", "Storage pools explained",
  """A storage pool is a group of drives that HarborOS manages together, with a
  protection level that decides how many drives may fail without data loss.
  Shared folders are created on a pool and share its free space. Most homes
  need only one pool; larger models can have several, for example a fast SSD
  pool next to a large hard drive pool.""")

p("raid.hraid", "HarborRAID: flexible protection",
  """HarborRAID is the default layout in the setup wizard. It combines drives of
  different sizes and lets you choose one-drive protection (HarborRAID 1) or
  two-drive protection (HarborRAID 2). You can grow a HarborRAID pool later by
  adding a drive to an empty bay or by replacing drives, one at a time, with
  larger ones. With only two drives, HarborRAID 1 behaves like a mirror.""")

p("raid.levels", "Classic RAID levels",
  """Besides HarborRAID you can choose a classic RAID level. RAID 0 stripes data
  across drives for speed but has no protection at all. RAID 1 mirrors two
  drives. RAID 5 needs at least three drives and survives one failure; RAID 6
  needs four and survives two. RAID 10 needs an even number of at least four
  drives and combines mirroring with striping. Classic levels use the size of
  the smallest drive for every member.""")

p("raid.choose", "Which protection level should I choose?",
  """For two drives, pick HarborRAID 1 or RAID 1 so that one drive can fail.
  With three to five drives, HarborRAID 1 or RAID 5 gives a good balance of
  space and safety. If you use large drives of 12 TB or more, or six drives,
  consider two-drive protection, because a second drive can fail during the
  long rebuild after the first one. Avoid RAID 0 unless the data also exists
  somewhere else.""")

p("raid.degraded", "My storage pool is degraded",
  """Degraded means one drive in the pool has failed or was removed and the pool
  is running without its full protection. Your files are still available, but
  another failure in a one-drive-protected pool would mean data loss. Check
  Storage > Drives to see which drive is affected, make sure your backup is up
  to date and replace the drive as soon as possible. Avoid switching the device
  off and on repeatedly while the pool is degraded.""")

p("raid.rebuild", "Repairing a pool after replacing a drive",
  """Insert a replacement drive that is at least as large as the failed one,
  open Storage > Pools, select the degraded pool and choose Repair. HarborOS
  copies or recalculates the missing data onto the new drive. As a rough guide,
  a rebuild takes about 2 hours per terabyte of the new drive, so an 8 TB
  drive needs most of a day. The pool stays usable, but expect lower
  performance until the repair finishes. Keep the device powered on; an
  interrupted rebuild restarts from the beginning.""")

p("raid.expand", "Adding capacity to a storage pool",
  """To make a pool bigger, insert a new drive and choose Storage > Pools >
  Add drive. In a HarborRAID pool you can also replace drives with larger ones,
  one at a time, waiting for each repair to finish before swapping the next.
  The extra space becomes available once the last repair completes. Classic
  RAID 5 and RAID 6 pools can be expanded with extra drives of at least the
  same size, but not RAID 0 or RAID 10.""")

p("raid.convert", "Changing a pool's protection level",
  """Some protection levels can be converted without losing data: RAID 1 to
  RAID 5 by adding a third drive, RAID 5 to RAID 6 by adding a drive, and
  HarborRAID 1 to HarborRAID 2 when a pool has four or more drives. Converting
  to a lower protection level, or from classic RAID to HarborRAID, is not
  possible; you would need to back up, recreate the pool and restore.""")

p("raid.crashed", "Storage pool crashed",
  """A pool shows Crashed when more drives have failed than its protection
  level allows. Do not choose Remove or Create pool on the affected drives,
  as this would destroy any chance of recovery. Switch the Harborbox off,
  note the order of the drives in the bays and contact Harbor support with a
  support bundle. In some cases the pool can be brought back in read-only mode
  long enough to copy the data off.""")

p("raid.notbackup", "Is RAID a backup?",
  """No. RAID protects against a drive failing, but not against files being
  deleted, overwritten, encrypted by ransomware, or the whole device being
  stolen or damaged. Keep at least one separate backup.""")

p("raid.scrub", "Data scrubbing",
  """Data scrubbing reads every block in a pool and checks it against its
  checksum and parity, repairing silent errors from the redundant copy. It
  runs automatically on the first Sunday of each month and can be started
  manually from Storage > Pools. A scrub of a large pool can take a day and
  slows down file access while it runs; you can pause it during busy hours.""")

p("raid.fs", "Btrfs or ext4?",
  """New pools are formatted with Btrfs by default. Btrfs keeps checksums of your
  data and is required for snapshots, immutable snapshots and the self-healing
  part of data scrubbing. Ext4 is offered for compatibility with older
  workflows, but those features are unavailable on it. The file system can't
  be changed after the pool has been created.""")

q("what's the difference between a storage pool and a shared folder", "raid.overview")
q("raid 5 vs raid 6 minimum number of disks", "raid.levels", "raid.choose:1")
q("I'm putting three 16TB drives in, which raid should I use", "raid.choose", "raid.levels:1")
q("one disk died but I can still open my files, what should I do now",
  "raid.degraded", "raid.rebuild:1", "drive.bad:1")
q("how long does it take to rebuild after swapping a failed 8tb drive", "raid.rebuild")
q("upgrade to bigger drives without losing data", "raid.expand", "raid.hraid:1")
q("convert mirror to raid5 after adding a third drive", "raid.convert")
q("two drives failed at the same time and the pool says crashed, can I still get my data back",
  "raid.crashed", "sup.recovery:1")
q("do I still need backups if I have raid 1", "raid.notbackup", "bk.321:1")
q("why is the nas slow on the first sunday of every month", "raid.scrub")
q("can I use snapshots on an ext4 volume", "raid.fs")

# ---------------------------------------------------------------------------
# Shared folders
# ---------------------------------------------------------------------------

p("share.create", "Creating a shared folder",
  """Open Files > Shared Folders and click Create. Give the folder a name, pick
  the storage pool it should live on and decide whether to enable the recycle
  bin, a size quota or encryption. On the next page you set which users and
  groups may read or write it. The new folder appears in the network for
  everyone who has access.""")

p("share.recycle", "Recycle bin for shared folders",
  """When the recycle bin is enabled for a shared folder, files deleted over the
  network or in the web file manager are moved to a hidden #recycle folder
  instead of being removed. By default items are kept for 30 days. You can
  change the retention or empty the bin manually from the shared folder
  settings. Files deleted by apps running on the Harborbox itself, or over
  NFS, bypass the recycle bin.""")

p("share.quota", "Limiting how much space a folder or user can use",
  """A shared folder quota caps the total size of one folder, regardless of who
  writes to it. A user quota limits how much a single user can store on a
  pool, across all folders. When either limit is reached, further writes fail
  with a 'disk full' error on the client even though the pool has free space.
  Quotas are set in the shared folder settings and in the Quota tab of each
  user.""")

p("share.encrypt", "Encrypted shared folders",
  """An encrypted shared folder protects its contents with AES-256 if the drives
  are stolen. After a restart the folder stays locked until you unlock it with
  the passphrase or the exported key file, unless you choose to store the key
  on the device for automatic unlocking, which is more convenient but less
  secure. If you lose both the passphrase and the key file, Harbor support
  cannot recover the data. Encrypted folders can't be shared over NFS, and very
  long file names are limited to 143 characters.""")

p("share.rename", "Renaming or moving a shared folder",
  """You can rename a shared folder in its settings, but mapped network drives,
  Time Machine destinations and backup tasks that refer to the old name will
  stop working and need to be updated. Moving a folder to another storage
  pool copies all of its data and may take hours; the folder is read-only
  during the move.""")

p("share.links", "Sharing files with people who don't have an account",
  """In the Harborbox app or the web file manager, right-click a file or folder
  and choose Share link. Anyone with the link can view or download the item in
  a browser. You can protect the link with a password, set an expiry date and
  limit the number of downloads. Links only work from outside your home if
  remote access is turned on.""")

p("share.request", "Collecting files with a file request",
  """A file request link lets other people upload files into a folder without
  being able to see what is already there, which is handy for collecting
  photos after a party or documents from a client. Create it from the folder's
  Share menu and choose Request files.""")

p("share.hidden", "Hiding a shared folder from network browsing",
  """Turn on Hide in network browsing in the folder settings to keep it out of
  Finder and File Explorer listings. Users with permission can still open it by
  typing the full path.""")

q("make a new folder that everyone in the family can access", "share.create")
q("restore a file I deleted from a network share by mistake",
  "share.recycle", "snap.restore:1")
q("explorer says disk is full but nas has lots of free space", "share.quota")
q("encrypted folder not showing after reboot", "share.encrypt")
q("renamed a share and now my mapped drive letter doesn't work",
  "share.rename", "net.win:1")
q("send a big video to a friend who doesn't have a harborbox", "share.links")
q("let a client upload documents to me without seeing the other files", "share.request")
q("hide a folder so it doesn't show up in finder", "share.hidden")

# ---------------------------------------------------------------------------
# Users, groups and permissions
# ---------------------------------------------------------------------------

p("user.create", "Adding users",
  """Go to Control Panel > Users and click Add. Enter a user name, an optional
  email address and an initial password, or let HarborOS send an invitation
  email so the person can choose their own password. New users join the
  'users' group automatically, and you can add them to other groups on the
  next page.""")

p("user.groups", "Working with groups",
  """Assign permissions to groups instead of individual users to keep things
  manageable: create a group such as 'family' or 'accounting', give it access
  to the relevant shared folders and add people to it. When a user belongs to
  several groups, they get the combined rights of all of them, with one
  exception: No access always wins over any granted permission.""")

p("user.perm", "Shared folder permissions",
  """Each shared folder has three permission levels per user or group: Read/Write,
  Read only and No access. Set them in Files > Shared Folders > Edit >
  Permissions. No access takes precedence, so a user who is denied directly
  but allowed through a group cannot open the folder. Changes take effect for
  new connections; users who are already connected may need to reconnect.""")

p("user.acl", "Permissions on subfolders",
  """If you need different rights inside a shared folder, enable Advanced
  permissions for it. You can then set permissions on individual subfolders
  and files, either in the web file manager under Properties > Permissions or
  from the Security tab in Windows File Explorer. Subfolders inherit from
  their parent unless you switch off inheritance. Advanced permissions are
  evaluated together with the shared folder permission, and the stricter of
  the two applies.""")

p("user.reset", "Resetting another user's password",
  """Administrators can set a new password for any user in Control Panel >
  Users: select the user, choose Edit and then Reset password. You can
  require the user to choose a new password the next time they sign in.""")

p("user.forgot", "I forgot the administrator password",
  """If another account in the administrators group still works, sign in with it
  and reset the password of the locked account. If no administrator can sign
  in, press and hold the reset button on the back for about 4 seconds until you
  hear one beep. This soft reset restores the network settings to DHCP and
  lets you set a new password for the owner account the next time you open
  the web console. Your files, users and other settings are kept.""")

p("user.guest", "The guest account",
  """The guest account is disabled by default. Enabling it lets anyone on your
  network open shared folders that grant guest access without entering a
  password. We recommend keeping it disabled and creating accounts instead,
  especially if your Wi-Fi is shared with visitors.""")

p("user.homes", "Personal home folders",
  """When the user home service is enabled in Control Panel > Users > Advanced,
  every user gets a private folder called 'home' that only they can see.
  Administrators can reach all home folders through the 'homes' shared folder.
  Home folders are where the Harborbox app stores photo backups by default.""")

p("user.disable", "Disabling or deleting a user",
  """Disabling a user blocks sign-in but keeps their files, settings and backup
  tasks intact, which is useful when someone leaves temporarily. Deleting a
  user also asks whether to remove their home folder. Files they saved in
  shared folders are never deleted.""")

p("user.expire", "Temporary accounts",
  """For guests or contractors, set an expiry date in the user's settings. The
  account is disabled automatically at midnight on that day.""")

p("user.admins", "What administrators can and can't do",
  """Members of the administrators group can change every system setting,
  install apps and manage users. They can also be given No access to a shared
  folder like anyone else, but since they can edit permissions they could
  grant themselves access again. Keep the number of administrator accounts
  small and use a normal account for everyday file access.""")

q("add an account for my daughter", "user.create")
q("user is in two groups one allows and one denies access, which applies",
  "user.groups", "user.perm")
q("make a folder read only for the kids but writable for parents", "user.perm")
q("different permissions for a subfolder inside a share", "user.acl")
q("my wife forgot her nas login password", "user.reset", "user.forgot:1")
q("locked out of the only admin account", "user.forgot", "mig.reset:1")
q("allow access to folders without password", "user.guest")
q("private folder for each person that others can't see", "user.homes")
q("someone left the company, should I delete their account or is there another option",
  "user.disable", "user.expire:1")
q("account for a contractor that stops working automatically after 3 months", "user.expire")

# ---------------------------------------------------------------------------
# File access from computers
# ---------------------------------------------------------------------------

p("net.win", "Mapping a shared folder as a drive in Windows",
  """In File Explorer, right-click This PC and choose Map network drive. Pick a
  drive letter, enter \\\\HARBORBOX\\foldername (or the device's IP address
  instead of the name) and tick Reconnect at sign-in. If your Windows account
  has a different name or password than your Harborbox account, also tick
  Connect using different credentials and enter your Harborbox user name and
  password.""")

p("net.mac", "Connecting from a Mac",
  """In Finder, choose Go > Connect to Server, type smb://harborbox.local and
  click Connect. Sign in with your Harborbox user name and password and choose
  the shared folders to mount. To mount them automatically, drag the mounted
  folders into System Settings > General > Login Items.""")

p("net.linux", "Accessing files from Linux",
  """Most Linux desktops can browse SMB shares directly from the file manager
  using smb://harborbox.local. For servers, enable NFS in Control Panel > File
  Services, add an NFS rule to the shared folder with the client's IP address
  and mount it with mount -t nfs harborbox.local:/volume1/share /mnt/share.
  NFS rules are based on IP addresses, not on Harborbox user accounts.""")

p("net.smbver", "SMB protocol versions",
  """By default HarborOS accepts SMB2 and SMB3 connections. The outdated SMB1
  protocol is disabled because it is insecure and slow. Some older scanners,
  media players and printers only speak SMB1; if you must use one, enable SMB1
  temporarily in Control Panel > File Services > SMB > Advanced, and consider
  using FTP or a USB stick for such devices instead.""")

p("net.1219", "Windows error: multiple connections to a server by the same user",
  """Windows allows only one set of credentials per server. If you already
  connected to the Harborbox as one user, connecting to another folder as a
  different user fails with 'Multiple connections to a server or shared
  resource by the same user are not allowed'. Disconnect all mapped drives to
  the device, or use the IP address for one connection and the device name for
  the other.""")

p("net.afp", "Is AFP still supported?",
  """AFP was removed in HarborOS 5.0. Macs running macOS 10.13 or later use SMB,
  which is faster and supports Time Machine.""")

p("net.sftp", "FTP and SFTP",
  """To transfer files with an FTP client, enable SFTP in Control Panel > File
  Services > FTP. SFTP uses port 22 by default; you can choose another port to
  reduce automated login attempts if you expose it to the internet. Plain FTP
  is available as well, but it sends passwords unencrypted and should only be
  used inside your home network.""")

p("net.webdav", "WebDAV access",
  """WebDAV lets apps and operating systems that can't use SMB open your shared
  folders over HTTPS, for example some note-taking and office apps. Enable it
  in File Services > WebDAV; the default HTTPS port is 5006.""")

q("map network drive windows 11", "net.win")
q("connect to server from macbook finder", "net.mac")
q("mount share on ubuntu server via nfs", "net.linux")
q("my old scanner can't save scans to the nas folder anymore", "net.smbver")
q("windows error 1219 multiple connections", "net.1219")
q("does the box support apple filing protocol", "net.afp")
q("upload files using filezilla", "net.sftp")
q("my notes app only supports webdav for sync, can it talk to the nas", "net.webdav")
q("windows keeps asking for a password when I open the nas even though I'm logged in",
  "net.win")

# ---------------------------------------------------------------------------
# Backing up computers to the Harborbox
# ---------------------------------------------------------------------------

p("bk.tm", "Backing up a Mac with Time Machine",
  """First create a shared folder for Time Machine, or use an existing one, and
  enable it as a Time Machine destination in Control Panel > File Services >
  SMB > Advanced. Set a quota on the folder so that Time Machine doesn't fill
  the whole pool. On the Mac, open System Settings > General > Time Machine,
  click Add Backup Disk and select the Harborbox folder. Several Macs can use
  the same folder; each one gets its own backup bundle.""")

p("bk.tmslow", "The first Time Machine backup is very slow",
  """The first backup copies everything on the Mac and can take many hours,
  especially over Wi-Fi. Connect the Mac with a cable for the first run if you
  can, and keep it awake: a sleeping Mac pauses the backup. Later backups only
  copy changes and usually finish in minutes. Time Machine also throttles
  itself while you are working; running 'sudo sysctl debug.lowpri_throttle_enabled=0'
  in Terminal lifts this until the next restart.""")

p("bk.agent", "Harbor Backup Agent for Windows",
  """Harbor Backup Agent backs up Windows PCs to your Harborbox. Download it from
  the support site, install it and sign in with your Harborbox account. Choose
  whether to protect the entire PC, the system drive or selected folders, set
  a schedule and pick the destination shared folder. The agent only uploads
  changed blocks after the first backup and keeps multiple versions according
  to the retention policy.""")

p("bk.agentrestore", "Restoring a Windows PC backup",
  """To get back individual files, open Harbor Backup Agent, select Restore,
  choose a backup version and browse to the files; you can restore them to
  their original location or to another folder. If the PC no longer starts,
  create a recovery USB stick from the agent on another computer, boot the
  broken PC from it and restore the whole system image. The replacement disk
  must be at least as large as the used space of the original.""")

p("bk.retention", "Backup version retention",
  """Backup tasks keep several versions so you can go back in time. The default
  Smart Recycle policy keeps all versions from the last 24 hours, one per day
  for the last 30 days and one per week for the last 12 weeks. You can instead
  keep a fixed number of versions or versions younger than a set number of
  days. Older versions are deleted automatically after each backup.""")

p("bk.321", "The 3-2-1 backup rule",
  """A good backup strategy keeps three copies of important data, on two
  different kinds of storage, with one copy off-site. For most Harborbox users
  this means the original files on computers and phones, a copy on the
  Harborbox, and a third copy in Harbor Cloud Backup or on a USB drive you keep
  at work or with relatives. RAID on its own counts as one copy, not two.""")

p("bk.usb", "Backing up the Harborbox to a USB drive",
  """Open Backup Hub, click Create and choose Local or USB as the destination.
  Select the shared folders to include and set a schedule; nightly backups
  are a good default. If you rotate two USB drives so one is always stored
  elsewhere, create a task for each drive; each task runs when its drive is
  connected. Backups to USB are versioned and can be browsed from any
  computer with the free Harbor Backup Explorer tool.""")

p("bk.nas2nas", "Backing up to a second Harborbox",
  """You can back up to another Harborbox at a friend's house or your office.
  On the destination device, enable Backup Server in Backup Hub. On the
  source, create a task with Remote Harborbox as the destination and sign in
  with an account on the other device. The connection uses Harbor Relay when
  the devices can't reach each other directly, so no port forwarding is
  needed, although a direct connection on port 6281 is faster.""")

p("bk.verify", "Verifying backup integrity",
  """Backup Hub can check a backup's integrity on a schedule by reading back
  the stored data and comparing checksums. Enable Integrity check in the task
  settings; it runs after backups and does not interrupt them.""")

q("set up time machine on the harborbox", "bk.tm")
q("first mac backup has been running for 20 hours", "bk.tmslow")
q("automatic backup software for windows 10 laptop", "bk.agent")
q("laptop hard drive died, how do I get everything back onto a new ssd from the backup",
  "bk.agentrestore")
q("how many old versions of my backups are kept", "bk.retention")
q("what is a good backup strategy for family photos", "bk.321")
q("copy everything on the nas to an external hard drive every night", "bk.usb")
q("offsite backup to my parents' harborbox", "bk.nas2nas", "bk.321:1")
q("how do I know my backups are not corrupted", "bk.verify")

# ---------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------

p("snap.what", "What are snapshots?",
  """A snapshot is a read-only image of a shared folder at a point in time.
  Snapshots are created in seconds and initially take no space, because they
  only keep the blocks that change afterwards. They protect against mistakes
  and ransomware but live on the same drives, so they do not replace a
  backup. Snapshots require a pool formatted with Btrfs.""")

p("snap.schedule", "Scheduling snapshots",
  """In Data Protection > Snapshots, select a shared folder and click Schedule.
  A typical setup takes a snapshot every hour and keeps hourly snapshots for
  two days, daily snapshots for a month and weekly snapshots for six months.
  Each shared folder can hold up to 1,024 snapshots.""")

p("snap.restore", "Restoring files from a snapshot",
  """On Windows, right-click the file or folder on the mapped drive, choose
  Properties and open the Previous Versions tab; each snapshot is listed with
  its date. On a Mac or in the web file manager, open the hidden #snapshot
  folder at the top of the shared folder, find the version you need and copy
  it back. Administrators can also restore an entire shared folder to a
  snapshot from Data Protection, which overwrites the current contents.""")

p("snap.space", "Snapshots are using a lot of space",
  """Snapshots keep every block that has changed or been deleted since they were
  taken. If you delete a large folder, the space is not freed until every
  snapshot that still references those files has expired or been deleted.
  Folders with constantly changing data, such as download folders or video
  editing scratch space, grow snapshots quickly and are better excluded.""")

p("snap.immutable", "Immutable snapshots",
  """Immutable snapshots can't be deleted or modified by anyone, including
  administrators, until their protection period ends. This stops ransomware or
  an attacker with an admin password from wiping your snapshots. Set the
  period between 7 and 30 days in the snapshot schedule. Keep in mind that the
  space used by immutable snapshots can't be reclaimed early either.""")

q("get yesterday's version of an excel file I overwrote", "snap.restore", "share.recycle:1")
q("deleted 500 GB of movies but free space didn't go up", "snap.space", "share.recycle:1")
q("protect snapshots so hackers can't delete them", "snap.immutable", "sec.ransom:1")
q("how often should snapshots be taken", "snap.schedule")

# ---------------------------------------------------------------------------
# Harbor Cloud Backup
# ---------------------------------------------------------------------------

p("cloud.what", "What is Harbor Cloud Backup?",
  """Harbor Cloud Backup sends an encrypted copy of the shared folders you choose
  to Harbor's data centers, so your data survives theft, fire or a device
  failure at home. Backups are incremental and versioned, and you can restore
  to the same Harborbox, to a new one, or download individual files in a
  browser. It is a paid subscription linked to your Harbor ID.""")

p("cloud.setup", "Setting up a cloud backup task",
  """Open Backup Hub, click Create and choose Harbor Cloud. Sign in with your
  Harbor ID if the device isn't linked yet, select the shared folders to
  protect and set a schedule. You will be asked to choose between standard
  encryption, where Harbor manages the key, and private key encryption, where
  only you hold it. The first upload starts right away unless you schedule it
  for later.""")

p("cloud.first", "How long does the first cloud upload take?",
  """The first upload sends all selected data and is limited by your internet
  connection's upload speed, which is usually much lower than its download
  speed. As an example, 1 TB over a 40 Mbit/s upload takes around 60 hours.
  You can keep using the Harborbox meanwhile, and the task resumes
  automatically after interruptions. To keep your connection usable during
  the day, set a bandwidth limit that applies only during office hours. Later
  backups only upload changes.""")

p("cloud.restore", "Restoring from Harbor Cloud Backup",
  """To restore to your Harborbox, open the cloud task in Backup Hub, choose
  Restore, pick a version and select folders or files. To restore to a new
  Harborbox after a loss, sign in with the same Harbor ID, choose Restore from
  Harbor Cloud in Backup Hub and select the old device's backup. Individual
  files can also be downloaded from backup.harborbox.com in a browser, unless
  the task uses private key encryption.""")

p("cloud.key", "Private key encryption",
  """With private key encryption your files are encrypted on the Harborbox with a
  key that never leaves your hands. Harbor cannot read your data, and it
  cannot help you if you lose the key: without it, the backup can't be
  restored. Download the key file when you create the task and store it
  somewhere other than the Harborbox itself, for example a password manager.
  The encryption mode can't be changed for an existing task.""")

p("cloud.regions", "Where is my cloud data stored?",
  """Harbor Cloud Backup has data centers in Frankfurt (EU), Oregon (US) and
  Singapore (Asia-Pacific). The region is selected when you first subscribe,
  based on your billing country, and can be changed on request. Moving to
  another region means uploading your data again.""")

p("cloud.exclude", "Excluding files from cloud backup",
  """In the task's Filters tab you can skip files by extension or name pattern,
  for example *.tmp, *.iso or Thumbs.db, and skip folders such as
  node_modules or #recycle. Files larger than 200 GB are skipped
  automatically and listed in the task log.""")

p("cloud.usage", "How is cloud storage usage counted?",
  """Your plan's storage is measured after deduplication and compression, so
  the cloud usage can be lower than the size of the folders on the Harborbox.
  Older versions kept by the retention policy count toward your usage too.
  Lowering the number of versions frees space after the next backup run.""")

q("offsite cloud backup for the nas", "cloud.what")
q("start backing up my photo share to harbor cloud", "cloud.setup")
q("cloud backup will take days to finish and my internet is slow, can I limit it",
  "cloud.first")
q("house fire, new nas, how do I get my data back from the cloud", "cloud.restore")
q("lost the private encryption key for my online backup", "cloud.key")
q("which country are my uploaded backups kept in", "cloud.regions")
q("skip iso files in cloud backup", "cloud.exclude")
q("cloud usage is bigger than my folders", "cloud.usage")

# ---------------------------------------------------------------------------
# Billing and subscriptions
# ---------------------------------------------------------------------------

p("bill.plans", "Harbor Cloud plans and prices",
  """Harbor Cloud Backup comes in three plans. Basic includes 500 GB for $2.99
  per month, Plus includes 2 TB for $7.99 per month, and Family includes 5 TB
  for $14.99 per month and can be shared by up to five Harbor IDs. Paying
  yearly gives you two months free. All plans include unlimited versions
  within the storage limit and the same encryption options.""")

p("bill.trial", "Free trial",
  """New Harbor IDs can try the Plus plan free for 30 days. A payment method is
  required to start the trial, but you won't be charged if you cancel before
  the trial ends. We send a reminder email three days before the first
  payment.""")

p("bill.change", "Upgrading or downgrading your plan",
  """You can change plans at account.harborbox.com > Subscriptions. Upgrades take
  effect immediately and you pay the prorated difference for the rest of the
  current billing period. Downgrades take effect at the start of the next
  period, and only if your current cloud usage fits into the smaller plan;
  otherwise, remove data or old versions first.""")

p("bill.cancel", "Cancelling your subscription",
  """Sign in at account.harborbox.com, open Subscriptions and choose Cancel
  subscription. Your backups keep running until the end of the paid period.
  After that, your cloud data is kept for 30 more days in case you change your
  mind, and is then permanently deleted. Cancelling does not affect anything
  stored on the Harborbox itself.""")

p("bill.refund", "Refund policy",
  """Yearly subscriptions can be refunded in full within 14 days of purchase or
  renewal. Monthly subscriptions are not refunded, but you can cancel at any
  time to stop future charges. Customers in the EU and UK can also exercise
  their statutory right of withdrawal. Subscriptions purchased through the App
  Store or Google Play are refunded by Apple or Google, not by Harbor.""")

p("bill.payment", "Accepted payment methods",
  """We accept Visa, Mastercard, American Express and PayPal at
  account.harborbox.com. In the mobile app you can also subscribe through
  Apple or Google in-app purchase. To update your card, go to Billing > Payment
  method; the new card is used for the next charge.""")

p("bill.failed", "My payment failed",
  """If a charge fails, we retry it three times over the following ten days and
  email you each time. Your backups continue during this grace period. If the
  payment still can't be collected after 14 days, cloud backups are paused and
  no new data is uploaded; your existing cloud data is kept for 30 days. Update
  your payment method to resume immediately.""")

p("bill.invoice", "Invoices and VAT",
  """Invoices for every payment are available under Billing > Billing history
  and are emailed to the address of your Harbor ID. To show a company name
  and VAT number on future invoices, add them in Billing > Billing details
  before the next payment. Invoices that have already been issued can't be
  changed, but support can issue a corrected copy for the current year.""")

p("bill.appstore", "Subscriptions bought in the App Store or Google Play",
  """If you subscribed inside the Harborbox app on an iPhone or Android phone,
  the subscription is billed by Apple or Google. Change or cancel it in your
  Apple ID or Google Play subscription settings; it won't appear as
  cancellable at account.harborbox.com.""")

p("bill.over", "What happens when I run out of cloud storage?",
  """We email you when your usage reaches 90% of the plan. If a backup would
  exceed the limit, it stops with a 'quota exceeded' status; nothing already
  uploaded is deleted. Upgrade your plan, exclude large folders or reduce the
  number of kept versions to continue.""")

p("bill.tax", "Are taxes included in the price?",
  """Listed prices exclude sales tax and VAT, which are added at checkout based
  on your billing address.""")

p("bill.family", "Sharing the Family plan",
  """The owner of a Family plan can invite up to four other Harbor IDs from
  Subscriptions > Members. All members draw from the shared 5 TB, and the
  owner can see how much each member uses, but not their files. Removing a
  member gives them 30 days to move to their own plan.""")

q("how much does cloud backup cost per month", "bill.plans")
q("can I test the online backup before paying", "bill.trial")
q("upgrade from basic to plus mid month, do I pay full price", "bill.change")
q("stop my cloud subscription", "bill.cancel", "bill.appstore:1")
q("what happens to my data if I cancel", "bill.cancel")
q("I paid for a year by accident yesterday, can I get my money back", "bill.refund")
q("change credit card on file", "bill.payment")
q("card expired and the payment didn't go through, are my backups deleted",
  "bill.failed", "bill.payment:1")
q("need an invoice with our company vat number", "bill.invoice")
q("bought subscription on iphone, how do I cancel it", "bill.appstore", "bill.cancel:1")
q("backup stopped with quota exceeded", "bill.over", "cloud.usage:1", "bill.change:1")
q("share the 5tb plan with my brother", "bill.family")

# ---------------------------------------------------------------------------
# Remote access
# ---------------------------------------------------------------------------

p("rem.relay", "Remote access with Harbor Relay",
  """Harbor Relay lets you reach your Harborbox from anywhere without changing
  your router. Turn it on in Control Panel > Remote Access and choose a
  Relay name; the device is then available at https://yourname.harborrelay.net
  and in the Harborbox app when you are away from home. When a direct
  connection is possible the app uses it automatically; otherwise traffic is
  passed through Harbor's relay servers, which is slower.""")

p("rem.direct", "Direct connection and port forwarding",
  """A direct connection is faster than Relay. If your router supports UPnP,
  HarborOS can set up the port forwarding for you in Remote Access > Router
  configuration. Otherwise, forward TCP port 5443 on your router to the
  Harborbox's IP address, and give the Harborbox a fixed IP address or a DHCP
  reservation so the rule keeps working.""")

p("rem.ddns", "Using a DDNS hostname",
  """Most home internet connections change their public IP address from time to
  time. A DDNS hostname, such as myhome.harbordns.net, always points to your
  current address. Create one in Control Panel > Remote Access > DDNS; you can
  also use accounts from other DDNS providers. HarborOS can obtain a free
  HTTPS certificate for the hostname automatically.""")

p("rem.cgnat", "Port forwarding doesn't work (CGNAT)",
  """Some internet providers, particularly mobile and fibre providers, share one
  public IP address among many customers (carrier-grade NAT). In that case
  incoming connections never reach your router and port forwarding can't
  work. If the WAN address on your router starts with 100.64 to 100.127, or
  differs from the address shown on whatismyip sites, you are behind CGNAT. Use
  Harbor Relay, or ask your provider for a public IPv4 address.""")

p("rem.vpn", "Using a VPN to reach your Harborbox",
  """The WireGuard VPN app from the Package Center turns your Harborbox into a VPN
  server. Once connected, your phone or laptop behaves as if it were at home
  and can use every service, including mapped drives, without exposing them to
  the internet. This is the most secure way to access the device remotely,
  but it requires port forwarding of UDP port 51820.""")

p("rem.slow", "Remote access is slow",
  """Speed from outside your home is limited by your home connection's upload
  speed, not the download speed. In addition, connections through Harbor
  Relay are capped at about 20 Mbit/s per device. For faster access, set up a
  direct connection with port forwarding, and in the app use the thumbnail
  preview instead of downloading full-resolution photos.""")

p("rem.off", "Turning off remote access",
  """Switch off Harbor Relay and remove any port forwarding rules on your router
  to keep the Harborbox reachable only from your home network.""")

q("access my files when I'm travelling", "rem.relay", "rem.vpn:1", "app.away:1")
q("which port do I forward on my router", "rem.direct", "rem.vpn:1")
q("my home ip keeps changing", "rem.ddns")
q("port forwarding set up correctly but still can't connect from outside, isp uses shared ip",
  "rem.cgnat")
q("wireguard vpn server", "rem.vpn")
q("streaming my videos from the nas at a hotel is really choppy",
  "rem.slow")
q("make sure nobody can reach my nas from the internet", "rem.off")

# ---------------------------------------------------------------------------
# Mobile app
# ---------------------------------------------------------------------------

p("app.install", "Getting the Harborbox app",
  """The Harborbox app is available for iPhone and iPad running iOS 16 or later
  and for Android 10 or later. At home, the app finds your device
  automatically; sign in with your Harborbox user name and password. To use
  the app away from home, remote access must be enabled.""")

p("app.photos", "Backing up photos from your phone",
  """Open the app, go to Settings > Photo Backup and switch it on. Choose the
  destination folder (by default, Photos in your home folder) and decide
  whether to include videos and whether to back up over mobile data or only
  on Wi-Fi. The first backup uploads your whole camera roll, which can take
  a while; keep the app open and the phone charging for the first run. New
  photos are uploaded automatically after that.""")

p("app.ios_bg", "Photo backup stops when the app is in the background (iPhone)",
  """iOS limits how long apps may work in the background, so large uploads
  pause when you leave the app. Background App Refresh must be on for the
  Harborbox app, and Low Power Mode must be off. The app also uses location
  changes to wake up and continue uploading if you allow 'Always' location
  access. For big libraries, leaving the app open on the charger overnight is
  the fastest way.""")

p("app.android_bg", "Automatic upload stops on Android",
  """Many Android phones aggressively stop apps to save battery. Open your
  phone's settings, find the Harborbox app under Battery and choose
  Unrestricted or Don't optimize. On some brands you also need to allow the
  app to auto-start. After changing this, open the app once so it can
  reschedule the backup.""")

p("app.offline", "Keeping files available offline",
  """Tap the three dots next to a file or folder and choose Make available
  offline. The app downloads a copy and keeps it up to date when you're
  connected. Offline files are stored inside the app and count toward the
  app's storage on your phone.""")

p("app.freeup", "Freeing up space on your phone",
  """After photos have been backed up, Settings > Free up space removes the
  backed-up originals from your phone. Only items that are confirmed on the
  Harborbox are removed. On iPhone they go to Recently Deleted for 30 days, so
  empty that album to actually gain space.""")

p("app.multi", "Using several Harborboxes in one app",
  """Tap your device name at the top of the Files tab and choose Add device to
  sign in to another Harborbox. You can switch between devices at any time;
  each keeps its own photo backup settings.""")

p("app.notify", "Push notifications",
  """The app can alert you to important events such as a failed drive, a
  finished backup or a new firmware version. Choose which categories you want
  in Settings > Notifications. Only administrators receive system alerts.""")

p("app.heic", "HEIC photos and Live Photos",
  """Photos taken on iPhones are uploaded in their original HEIC format, with
  Live Photos saved as a HEIC image plus a short MOV file. If you prefer
  JPEG copies for compatibility with older software, enable Convert HEIC to
  JPEG in Photo Backup settings; the originals are not kept in that case.""")

p("app.away", "The app says 'Device unreachable' outside my home",
  """At home the app connects over your local network. When you're away it
  needs Harbor Relay or a direct connection through your router. If neither is
  configured, you'll see Device unreachable as soon as you leave your Wi-Fi.
  Turn on remote access, then sign out of the app and back in so it picks up
  the new address.""")

q("auto upload camera roll to the nas", "app.photos", "app.ios_bg:1", "app.android_bg:1")
q("iphone photo backup only works when the app is open", "app.ios_bg", "app.photos:1")
q("samsung phone stops uploading pictures after a while", "app.android_bg")
q("open documents on the plane without internet", "app.offline")
q("delete photos from my phone that are already saved on the nas", "app.freeup")
q("I have one harborbox at home and one at the office, can the app show both", "app.multi")
q("get a notification on my phone if a drive fails", "app.notify")
q("photos from my iphone are saved as heic and my old photo editor can't open them", "app.heic")
q("app works at home but not on 4g", "app.away", "rem.relay:1")
q("which android version does the app need", "app.install")

# ---------------------------------------------------------------------------
# Media and apps
# ---------------------------------------------------------------------------

p("media.dlna", "Playing media on a smart TV",
  """Enable Media Server in the Package Center to share music, photos and video
  with DLNA-compatible smart TVs, game consoles and speakers on your network.
  Choose which shared folders are indexed; the TV lists the Harborbox as a
  media source. Playback of formats the TV doesn't support natively may fail,
  because Media Server does not convert video.""")

p("media.plex", "Plex and Jellyfin",
  """Plex Media Server and Jellyfin are available in the Package Center. On the
  HB-4 Plus and HB-6 Pro they can transcode 1080p video in real time using the
  built-in graphics engine. The HB-2 Home can stream files that the player
  supports directly, but it is not powerful enough to transcode 4K, so set
  your player to Original quality.""")

p("media.photos", "Harbor Photos",
  """Harbor Photos organises the pictures on your Harborbox into a timeline,
  albums and places. Face and object recognition run entirely on the device,
  so no image leaves your home. Each user has a personal space, and a shared
  space can be enabled for family albums.""")

p("media.indexing", "High CPU usage after uploading many photos",
  """After a large upload Harbor Photos creates thumbnails and runs recognition
  for every new image, which keeps the processor busy and the drives active.
  This is expected and can take several days for a library of 100,000 photos
  on an HB-2 Home. You can pause indexing in Harbor Photos > Settings and set
  it to run only at night.""")

p("pkg.center", "Installing apps from the Package Center",
  """The Package Center offers official Harbor apps and selected third-party
  apps. Administrators can install, update and remove them; apps are stored
  on a storage pool you choose and updated automatically unless you turn that
  off. Some apps, such as containers, are only available on the HB-4 Plus and
  HB-6 Pro.""")

p("pkg.cloudsync", "Syncing with Google Drive, Dropbox or OneDrive",
  """Cloud Sync connects a shared folder to a public cloud account. Choose
  two-way sync to keep both sides identical, download only to keep a local
  copy of your cloud files, or upload only to mirror the Harborbox into the
  cloud. Deletions are synchronised in two-way mode, so Cloud Sync is not a
  substitute for a backup.""")

p("pkg.containers", "Running containers",
  """The Container Manager app on the HB-4 Plus and HB-6 Pro runs Docker-compatible
  containers. You can pull images from public registries, map shared folders
  into containers and set resource limits. Containers that need more memory
  than the device has will slow down the whole system, so consider a memory
  upgrade on the HB-4 Plus.""")

q("watch movies stored on the nas on my samsung tv", "media.dlna")
q("4k transcoding plex on HB-2", "media.plex")
q("does the face recognition send my photos to the cloud", "media.photos")
q("cpu at 100% for two days after importing my photo library", "media.indexing", "ts.slow:1")
q("keep a copy of my dropbox on the nas", "pkg.cloudsync")
q("can I run docker containers on the harborbox", "pkg.containers")

# ---------------------------------------------------------------------------
# Firmware
# ---------------------------------------------------------------------------

p("fw.auto", "Automatic HarborOS updates",
  """By default, HarborOS installs important security updates automatically
  during the maintenance window, which is 3:00 to 5:00 at night. Feature
  releases are not installed automatically; you receive a notification and
  can install them when convenient from Control Panel > Update. You can change
  the maintenance window or switch automatic installation off.""")

p("fw.manual", "Installing an update manually",
  """If the device has no internet access, download the correct .hbfw file for
  your model from the downloads page on a computer. In Control Panel > Update,
  choose Manual update and upload the file. HarborOS checks that the file is
  signed and matches your model before installing it.""")

p("fw.during", "What happens during a firmware update?",
  """During an update all file services and apps stop, and the Harborbox
  restarts once or twice. An update normally takes 10 to 20 minutes. Do not
  unplug the device or press the reset button while the status light pulses
  orange. Your files and settings are not changed, but it's good practice to
  let running backups finish first.""")

p("fw.stuck", "Update seems stuck",
  """Large updates can stay at the same percentage for a long time while
  drives are being prepared. Give it at least 60 minutes. If the status light
  is still pulsing orange after that and the web console doesn't respond,
  hold the power button for 10 seconds to switch the device off, then start
  it again; HarborOS will either finish the update or start in recovery mode,
  from which you can reinstall.""")

p("fw.rollback", "Can I go back to an older HarborOS version?",
  """Installing an older version than the one currently running is blocked,
  because updates often change the database format of system settings. If a
  new version causes a serious problem, contact support; in some cases they
  can provide a supervised rollback.""")

p("fw.recovery", "Reinstalling HarborOS (recovery mode)",
  """If HarborOS no longer starts correctly, you can reinstall it without losing
  the data on your drives. Install Harbor Assistant on a computer in the same
  network, then hold the reset button while pressing power until the status
  light blinks white. Harbor Assistant finds the device in recovery mode and
  reinstalls the operating system. Settings may be reset; files are kept.""")

p("fw.lifecycle", "How long will my model get updates?",
  """Each Harborbox model receives feature updates for at least five years and
  security updates for at least seven years after its release. The HB-2 Home
  (2020) is supported until at least 2027.""")

p("fw.beta", "Joining the beta program",
  """Beta releases give early access to new features but may contain bugs. Join
  in Control Panel > Update > Beta program; we recommend it only for devices
  whose data is backed up elsewhere.""")

q("stop the box from installing new software by itself at night", "fw.auto")
q("update the firmware on a box that isn't connected to the internet", "fw.manual")
q("is my data safe during a harboros update", "fw.during")
q("update has been stuck at 58% for half an hour", "fw.stuck", "fw.recovery:1")
q("downgrade harboros to the previous version", "fw.rollback")
q("system doesn't boot after an update, how do I reinstall the os without wiping the drives",
  "fw.recovery", "ts.noboot:1")
q("how many more years will my HB-2 keep getting patches", "fw.lifecycle")

# ---------------------------------------------------------------------------
# Network settings
# ---------------------------------------------------------------------------

p("lan.static", "Giving the Harborbox a fixed IP address",
  """The easiest way is to create a DHCP reservation for the Harborbox in your
  router, so it always receives the same address. Alternatively, set a
  manual address in Control Panel > Network > LAN 1 > Edit, entering the IP
  address, subnet mask, gateway and DNS server. Choose an address outside the
  router's DHCP range to avoid conflicts.""")

p("lan.bond", "Link aggregation",
  """The HB-4 Plus and HB-6 Pro can combine two network ports into one link for
  redundancy or more total bandwidth. Select both ports in Control Panel >
  Network and choose Create bond. The 802.3ad (LACP) mode needs a managed
  switch that supports it. Note that a single file transfer from one computer
  won't go faster than one port; bonding helps when several clients are busy
  at the same time.""")

p("lan.jumbo", "Jumbo frames",
  """Setting the MTU to 9000 can improve throughput slightly on 10 GbE networks,
  but only if every device in the path, including switches and the computer,
  uses the same MTU. A mismatch causes stalled transfers and connection drops.
  For most home networks the default of 1500 is the right choice.""")

p("lan.speed", "The 2.5 GbE port only connects at 1 Gbps",
  """Check the link speed in Control Panel > Network. A 1 Gbps link on a 2.5 GbE
  port usually means the switch or router port only supports 1 Gbps, or the
  cable is damaged or older than Cat 5e. Try another cable and a port that is
  labelled 2.5G or multi-gig.""")

p("lan.hostname", "Changing the device name",
  """The device name is what computers see in the network and what you type in
  addresses such as \\\\HARBORBOX. Change it in Control Panel > Network >
  General. After a change, mapped drives and shortcuts that use the old name
  need to be updated.""")

p("lan.dns", "Changing DNS servers",
  """HarborOS uses the DNS servers provided by your router. To use different
  ones, open Control Panel > Network > General and enter them under Manual DNS.""")

p("lan.ipv6", "IPv6 support",
  """HarborOS supports IPv6 with automatic configuration, DHCPv6 or a manual
  address. Remote access and Harbor Relay work over IPv4 and IPv6.""")

q("set a static ip for the nas", "lan.static")
q("use both network sockets together for extra bandwidth", "lan.bond")
q("should I enable jumbo frames mtu 9000", "lan.jumbo")
q("bought a 2.5 gig switch but the nas still shows 1000 mbps", "lan.speed", "ts.slow:1")
q("rename the harborbox on the network", "lan.hostname")

# ---------------------------------------------------------------------------
# Power and hardware
# ---------------------------------------------------------------------------

p("pwr.schedule", "Power schedule",
  """In Control Panel > Hardware & Power > Power schedule you can switch the
  Harborbox off and on at set times, for example off at midnight and on at 7:00
  on weekdays. Scheduled backups and snapshots don't run while the device is
  off, so plan them around the schedule.""")

p("pwr.hibernate", "Drive hibernation",
  """Drives can spin down after a period without access to save power and reduce
  noise. Set the idle time in Hardware & Power > Hibernation. Drives will not
  hibernate while anything keeps accessing them: photo indexing, media server
  scans, apps writing logs, or computers that keep a folder open. If drives
  never sleep, enable hibernation logs to see which process woke them.""")

p("pwr.ups", "Using a UPS",
  """Connect a UPS to a USB port on the Harborbox and enable UPS support in
  Hardware & Power > UPS. When the power fails, the Harborbox goes into safe
  mode after the delay you set, or when the UPS reports a low battery, and
  shuts down cleanly. Several Harborboxes can share one UPS by turning one of
  them into a network UPS server.""")

p("pwr.restore", "Starting automatically after a power outage",
  """Enable Restart after power failure in Hardware & Power. The Harborbox will
  then power on by itself when electricity returns, as long as it was running
  when the power was lost.""")

p("pwr.noise", "The Harborbox is noisy",
  """Most noise comes from the drives, not the enclosure. Clicking and seeking
  sounds during indexing, scrubbing or backups are normal, and NAS drives with
  high spindle speeds are louder than desktop drives. Set the fan mode to
  Quiet in Hardware & Power, put the device on a soft pad to dampen
  vibration and enable drive hibernation for quiet nights.""")

p("pwr.usage", "Power consumption",
  """Typical power use with drives installed: HB-2 Home about 15 W while
  accessing files and 6 W with drives hibernating; HB-4 Plus about 32 W and
  11 W; HB-6 Pro about 55 W and 18 W. Actual values depend on the drives you
  use.""")

p("pwr.wol", "Wake-on-LAN",
  """Enable Wake-on-LAN in Hardware & Power to start a switched-off Harborbox by
  sending a magic packet from the app or another device on your network.
  Wake-on-LAN works only over the wired LAN 1 port.""")

p("pwr.shutdown", "Shutting down properly",
  """Shut down from the web console or the app, or press the power button for
  about 3 seconds until you hear a beep. Holding the button for 10 seconds
  forces the device off, which should only be used when it no longer
  responds.""")

p("pwr.ram", "Adding memory",
  """The HB-4 Plus has one free SO-DIMM slot and supports up to 16 GB of DDR4
  memory in total. Use modules from the compatibility list; third-party
  memory may work but isn't supported. The HB-2 Home's memory is soldered and
  can't be upgraded.""")

q("switch the nas off at night and on in the morning automatically", "pwr.schedule")
q("disks keep spinning all night even though nobody is using them", "pwr.hibernate")
q("connect apc ups for automatic shutdown", "pwr.ups")
q("after a blackout the box stays off until I press the button", "pwr.restore", "pwr.ups:1")
q("clicking noise from the drives at night", "pwr.noise", "pwr.hibernate:1")
q("how many watts does it use", "pwr.usage")
q("what's the right way to turn it off", "pwr.shutdown")
q("maximum ram for the 4 bay model", "pwr.ram")

# ---------------------------------------------------------------------------
# Security
# ---------------------------------------------------------------------------

p("sec.2fa", "Two-factor authentication",
  """Turn on two-factor authentication in Personal > Security to require a code
  from an authenticator app in addition to your password. Scan the QR code
  with an app such as Google Authenticator or 1Password, enter a code to
  confirm and save the ten backup codes somewhere safe. Administrators can
  require two-factor authentication for all administrator accounts or all
  users.""")

p("sec.2falost", "I lost the phone with my authenticator app",
  """Sign in with one of the backup codes you saved when enabling two-factor
  authentication; each code works once. If you have no backup codes, another
  administrator can switch off two-factor authentication for your account. If
  you are the only administrator, a soft reset with the reset button also
  disables it for the owner account.""")

p("sec.autoblock", "Blocking repeated login attempts",
  """Auto Block blocks an IP address after too many failed sign-ins, by default
  5 attempts within 5 minutes. Blocked addresses are listed in Control Panel >
  Security > Auto Block, where you can unblock them or add trusted addresses
  to the allow list so that you can't lock yourself out.""")

p("sec.firewall", "Firewall",
  """The built-in firewall is off by default, because most home routers already
  block incoming connections. If you forward ports to the Harborbox, turn the
  firewall on and create rules that allow only the services you need, or only
  addresses from your country. Test access from outside after changing rules.""")

p("sec.ransom", "Protecting against ransomware",
  """Ransomware on a computer can encrypt every file it can write to, including
  mapped network drives. Give everyday accounts only the permissions they
  need, keep SMB1 disabled, schedule snapshots and make them immutable, and
  keep an off-site backup. If you suspect an attack, disconnect the infected
  computer from the network, don't pay, and restore the affected folders from
  a snapshot taken before the encryption started.""")

p("sec.cert", "Browser says the connection is not private",
  """When you open the web console by IP address, the browser warns you because
  the Harborbox uses a self-signed certificate that your browser doesn't
  recognise. Inside your home network this is harmless. To remove the warning,
  access the device through its DDNS or Relay address, for which HarborOS
  obtains a trusted Let's Encrypt certificate, or import your own certificate in
  Control Panel > Security > Certificates.""")

p("sec.advisor", "Security Advisor",
  """Security Advisor checks your configuration for weaknesses, such as weak
  passwords, an enabled guest account, SMB1, outdated apps or default ports
  exposed to the internet. Run a scan from the Security Advisor app, or
  schedule one weekly and receive the results by email.""")

p("sec.ssh", "SSH access",
  """SSH is off by default. Administrators can enable it in Control Panel >
  Terminal. Only members of the administrators group can sign in, and direct
  root login is not permitted; use sudo instead. Changes made over SSH are not
  supported and may be overwritten by updates.""")

q("enable 2fa on my account", "sec.2fa")
q("new phone and my authenticator codes are gone, can't sign in",
  "sec.2falost", "sec.2fa:1")
q("my ip got blocked after typing the wrong password too many times", "sec.autoblock")
q("ransomware encrypted my mapped drive, what now", "sec.ransom", "snap.restore:1")
q("certificate warning in chrome when opening the web interface", "sec.cert")
q("check my nas for security problems", "sec.advisor")
q("log in with ssh as root", "sec.ssh")

# ---------------------------------------------------------------------------
# Notifications and logs
# ---------------------------------------------------------------------------

p("log.email", "Email notifications",
  """Go to Control Panel > Notifications > Email and add a recipient. HarborOS
  can send mail through Harbor's notification service, which needs no
  configuration, or through your own SMTP server, such as Gmail or Outlook.com
  with an app password. Send a test message to confirm it works, then choose
  which events trigger an email.""")

p("log.center", "Log Center",
  """Log Center collects system events, sign-in attempts, file transfers and app
  logs in one place. Filter by date, severity or user, and export entries as
  CSV. Logs are kept for 180 days or until they reach 1 GB.""")

p("log.audit", "Finding out who deleted a file",
  """Enable file transfer logging for SMB in Log Center > Settings > File
  Transfer and tick Delete, Rename and Move. After that, each operation is
  recorded with the user, the client IP address and the time. Logging applies
  only to actions performed after it was enabled.""")

p("log.bundle", "Creating a support bundle",
  """Support may ask for a support bundle, which contains system logs and
  configuration but none of your files. Go to Support Center > Diagnostics
  and click Generate; download the file and attach it to your ticket, or let
  HarborOS upload it directly with your ticket number.""")

q("send alerts to my gmail", "log.email")
q("who deleted the shared accounting folder yesterday", "log.audit", "log.center:1")
q("support asked me for a diagnostic file", "log.bundle")
q("export system logs to csv", "log.center")

# ---------------------------------------------------------------------------
# Troubleshooting
# ---------------------------------------------------------------------------

p("ts.led", "What the lights mean",
  """Status light: solid blue means everything is fine; pulsing blue means the
  Harborbox is starting or shutting down; pulsing orange means an update or
  repair is in progress; blinking orange means a warning, such as a degraded
  pool or a full pool; solid orange means a critical error; blinking white
  means recovery mode. Drive lights: green is normal, flashing green is
  activity, orange means the drive needs attention, and off means no drive or
  a drive in hibernation.""")

p("ts.beep", "The Harborbox keeps beeping",
  """A repeating beep signals a problem that needs attention, typically a
  degraded storage pool, a failed fan or a lost UPS connection. Check the
  notification in the app or web console to see the cause. You can silence
  the beep from the notification or by pressing the power button briefly,
  but the underlying problem remains.""")

p("ts.slow", "File transfers are slow",
  """Start with the network: a computer on Wi-Fi rarely exceeds 30 to 60 MB/s,
  while a wired 1 Gbps link reaches about 110 MB/s. Check the link speed of
  the Harborbox and your computer, and try another cable. Copying thousands of
  small files is much slower than a few large ones, so zip them first.
  Transfers are also slower while the pool is rebuilding, scrubbing or
  indexing photos. Finally, SMB signing and encryption cost performance on the
  HB-2 Home; check whether they are forced on by a policy on your computer.""")

p("ts.notfound", "The Harborbox doesn't appear in Windows Network",
  """Windows 10 and 11 no longer use the old NetBIOS browsing by default, so the
  device may not show up under Network even though it works. Type
  \\\\HARBORBOX or \\\\ followed by its IP address into the File Explorer address
  bar instead. Make sure WS-Discovery is enabled in Control Panel > File
  Services > SMB and that your PC's network profile is set to Private.""")

p("ts.offline", "The app shows my Harborbox as offline",
  """Check that the status light is solid blue and that the network cable's
  port lights are on. If the router was replaced or reset, the Harborbox may
  have a new IP address; restarting the app triggers a new search. Away from
  home, 'offline' usually means remote access is off or the internet
  connection at home is down.""")

p("ts.hot", "Temperature warnings",
  """HarborOS warns you when a drive exceeds 60 °C or the system exceeds 70 °C.
  Make sure the rear fan isn't blocked, clean dust from the front and back,
  and set the fan mode to Cool. Persistent high temperatures shorten drive
  life.""")

p("ts.noboot", "The Harborbox doesn't start",
  """First check that the power adapter's light is on and try another outlet.
  If the status light stays off, the adapter may be faulty. If it pulses blue
  forever, shut down, remove all drives (note their order), and start without
  drives: if the device then becomes reachable in Harbor Assistant, a faulty
  drive was blocking startup. Put the drives back in the same order and
  remove them one by one to find it.""")

p("ts.creds", "'Access denied' although the user has permission",
  """Windows caches credentials for network locations. If you changed a user's
  password or permissions, or first connected as another user, Windows keeps
  using the old credentials. Open Credential Manager, remove the Windows
  credentials for the Harborbox, then sign out of Windows or restart and
  connect again.""")

p("ts.full", "My storage pool is almost full",
  """HarborOS warns at 90% usage and at 95% stops non-essential writes such as
  snapshots and indexing to protect the file system. To free space, empty the
  recycle bins, delete old snapshots and backup versions, and check which
  shared folders grow fastest in Storage Analyzer. Remember that deleted files
  are only freed once no snapshot refers to them.""")

p("ts.clock", "Wrong date and time",
  """HarborOS synchronises its clock with time servers on the internet. If the
  time is wrong, check Control Panel > Regional Options and make sure NTP is
  enabled and the time zone is correct. A wrong clock makes authenticator
  codes fail and can cause certificate errors.""")

q("status light blinking orange", "ts.led", "raid.degraded:1", "ts.beep:1")
q("how do I stop the beeping", "ts.beep")
q("copying to the nas only gets 5 MB/s", "ts.slow", "lan.speed:1")
q("harborbox is not listed under network in windows explorer", "ts.notfound", "net.win:1")
q("after getting a new router the app says my device is offline", "ts.offline")
q("disks running at 63 degrees, is that a problem", "ts.hot")
q("won't turn on, no lights at all", "ts.noboot")
q("access denied on a folder even though I gave myself read write permission",
  "ts.creds", "user.perm:1")
q("pool is 96% full and snapshots stopped", "ts.full", "snap.space:1")
q("two factor codes are always rejected even though they're right", "ts.clock", "sec.2fa:1")

# ---------------------------------------------------------------------------
# Harbor ID account
# ---------------------------------------------------------------------------

p("acct.harborid", "Harbor ID and local accounts",
  """A Harbor ID is an online account used for Harbor Relay, Harbor Cloud
  Backup, billing and support tickets. It is separate from the user accounts
  on your Harborbox, which you use to open files. You can use the Harborbox
  without a Harbor ID, but then remote access through Relay and cloud backup
  are not available.""")

p("acct.link", "Linking and unlinking a Harborbox",
  """The setup wizard links your Harborbox to your Harbor ID. To link it later,
  or to another Harbor ID, open Control Panel > Harbor ID. Unlinking turns off
  Harbor Relay and cloud backup tasks on that device but does not delete any
  files or cloud data.""")

p("acct.forgot", "I forgot my Harbor ID password",
  """Go to account.harborbox.com, click Forgot password and enter the email
  address of your Harbor ID. You'll receive a reset link that's valid for one
  hour. This resets only your online Harbor ID, not the user accounts on your
  Harborbox.""")

p("acct.email", "Changing the email address of your Harbor ID",
  """Sign in at account.harborbox.com and open Profile. Enter the new address and
  confirm it with the code we send to it. Invoices and notifications go to the
  new address from then on.""")

p("acct.delete", "Deleting your Harbor ID",
  """Deleting your Harbor ID cancels all subscriptions, permanently deletes
  your cloud backups and unlinks your devices. It can't be undone. Your
  Harborbox and its files keep working locally. Request deletion in Profile >
  Privacy at account.harborbox.com.""")

q("difference between harbor id and my nas user", "acct.harborid")
q("can't remember the password for the website account where I pay for the subscription", "acct.forgot")
q("changed jobs, need to update my email on my harbor account", "acct.email")
q("close my account and remove all my data from your servers", "acct.delete", "bill.cancel:1")

# ---------------------------------------------------------------------------
# Migration, reset, selling
# ---------------------------------------------------------------------------

p("mig.newbox", "Moving to a new Harborbox",
  """If the new device has at least as many bays, you can move the drives
  directly: shut down the old Harborbox, move the drives in the same order and
  start the new one. HarborOS keeps your data, users and most settings; apps
  are reinstalled automatically. Both devices must run HarborOS 5.0 or later.
  If you are changing the number or size of drives, use Migration Assistant
  instead, which copies everything over the network from the old device.""")

p("mig.reset", "Soft reset and factory reset",
  """The reset button on the back does two different things. Hold it for about
  4 seconds until one beep to perform a soft reset, which restores the network
  settings and the owner password but keeps everything else. Hold it for about
  10 seconds, until you hear two beeps, to restore all system settings to
  factory defaults; user accounts and apps are removed, but files on the
  storage pools are kept. To also erase the drives, choose Control Panel >
  Reset > Erase all data in the web console.""")

p("mig.sell", "Preparing a Harborbox to sell or give away",
  """Back up anything you want to keep, then unlink the device from your Harbor
  ID so the next owner can link it to theirs. Choose Control Panel > Reset >
  Erase all data with the secure erase option, which overwrites every drive.
  This takes several hours per drive. Finally, remove the drives if you want
  to keep them.""")

p("mig.import", "Moving files from another NAS or cloud service",
  """From another NAS, the fastest route is usually a Backup Hub task of type
  Remote server (rsync), or simply copying over the network from a computer.
  From Google Drive, Dropbox or OneDrive, set up Cloud Sync in download-only
  mode and remove the connection when the copy is complete.""")

q("move my drives from the HB-2 to a new HB-4", "mig.newbox", "raid.expand:1")
q("factory reset without losing files", "mig.reset", "user.forgot:1")
q("wipe everything before selling it on ebay", "mig.sell", "mig.reset:1")
q("migrate from my old synology to harborbox", "mig.import")

# ---------------------------------------------------------------------------
# Support and warranty
# ---------------------------------------------------------------------------

p("sup.warranty", "Warranty",
  """The HB-2 Home and HB-4 Plus come with a two-year limited hardware warranty
  and the HB-6 Pro with three years. Drives are covered only when they were
  sold pre-installed by Harbor; otherwise, claim them with the drive maker.
  The warranty does not cover data loss.""")

p("sup.rma", "Sending a device in for repair",
  """If support confirms a hardware fault, they open a return (RMA) and email a
  prepaid shipping label. Remove the drives before shipping; we repair or
  replace the enclosure and send it back within about ten working days.""")

p("sup.recovery", "Professional data recovery",
  """Harbor doesn't perform data recovery on failed drives. If a pool has
  crashed and you have no backup, stop using the drives and contact a data
  recovery lab. Label the drives with their bay numbers; this helps rebuild
  the pool.""")

p("sup.contact", "Contacting Harbor support",
  """Open a ticket from Support Center on your Harborbox, which attaches device
  details automatically, or at support.harborbox.com. Chat support is
  available Monday to Friday, 8:00 to 20:00 CET and US Eastern time.""")

q("is the enclosure still under warranty after 18 months", "sup.warranty")
q("the power supply is broken, how do I send the unit back", "sup.rma")
q("when can I talk to a human at harbor", "sup.contact")

# ---------------------------------------------------------------------------
# More everyday tasks
# ---------------------------------------------------------------------------

p("admin.ports", "Changing the web console ports",
  """The web console listens on port 5080 for HTTP and 5443 for HTTPS. To use
  other ports, go to Control Panel > Network > Web Services, enter new
  numbers and save; the page reloads on the new port. Remember to update any
  port forwarding rules and bookmarks afterwards.""")

p("cfg.backup", "Saving and restoring the system configuration",
  """Control Panel > Update > Configuration Backup exports your users, groups,
  shared folder settings, network settings and scheduled tasks into a small
  .hbcfg file. Keep a copy on your computer before major changes. After a
  factory reset or on a replacement device, import the file from the same page
  to bring the settings back. The file does not contain your documents,
  photos or other data.""")

p("storage.analyzer", "Finding out what uses your storage",
  """Storage Analyzer creates a report of the largest folders and files, the
  file types that take the most space, duplicate files and how usage has
  grown over time. Run it once from the app or schedule a monthly report that
  is emailed to you.""")

p("tm.restore", "Restoring a Mac from a Time Machine backup on the Harborbox",
  """To move your files to a new Mac, start Migration Assistant on the new Mac,
  choose From a Mac, Time Machine backup or startup disk, and select the
  Harborbox backup; you may need to connect to the shared folder in Finder
  first. To restore the whole system after a disk failure, start the Mac in
  macOS Recovery, choose Restore from Time Machine and connect to the
  Harborbox share with your Harborbox user name and password. A wired
  connection makes this much faster.""")

p("app.sdcard", "Importing photos from a camera or SD card",
  """Install the USB Copy app, then plug a card reader or camera into the front
  USB port. USB Copy can import new photos and videos automatically into a
  folder of your choice, sorted by date, and skip files it has already
  copied. Press the Copy button on the front of the HB-4 Plus or HB-6 Pro to
  start an import manually.""")

p("pkg.uninstall", "Removing an app",
  """Open Package Center, select the app and choose Uninstall. Most apps ask
  whether to keep their database and settings, which is useful if you plan to
  reinstall later. Media files in your shared folders are never deleted when
  you remove an app.""")

p("relay.rename", "Changing your Relay name",
  """You can change the Relay name in Control Panel > Remote Access once every
  30 days. The old address stops working immediately, including existing
  share links and bookmarks, and the app must be signed in again when you're
  away from home.""")

p("bill.promo", "Promo codes and gift cards",
  """Redeem a promo code or Harbor gift card at account.harborbox.com under
  Billing > Redeem code. Credit from gift cards is used before your card is
  charged. Promo codes can't be combined and are applied only to new
  subscriptions unless stated otherwise.""")

p("user.import", "Creating many users at once",
  """To add a large number of accounts, prepare a UTF-8 text file with one user
  per line containing user name, password, description, email and quota,
  separated by tabs. In Control Panel > Users, choose Create > Import users and
  upload the file. Existing user names are skipped unless you tick Overwrite.""")

p("bk.agent_mac", "Is Harbor Backup Agent available for macOS?",
  """No. Harbor Backup Agent runs on Windows 10 and 11 and on Windows Server. To
  back up a Mac, use Time Machine with a Harborbox shared folder as the
  destination.""")

p("raid.spare", "Hot spare drives",
  """On the HB-4 Plus and HB-6 Pro you can designate an empty drive as a hot
  spare in Storage > Pools > Hot spare. If a drive in a protected pool fails,
  HarborOS starts the repair onto the spare immediately instead of waiting
  for you to replace the drive. The spare must be at least as large as the
  largest drive in the pool and doesn't store any data until it's needed.""")

p("x.multichannel", "SMB multichannel",
  """With SMB multichannel enabled in File Services > SMB > Advanced, a Windows
  computer with two network adapters can use both connections to the HB-4 Plus
  or HB-6 Pro for a single transfer. It has no effect on Macs or on computers
  with only one adapter.""")
p("x.currency", "Billing currency",
  """Prices are charged in US dollars, euros or pounds sterling depending on
  your billing country. The currency can't be changed for an existing
  subscription.""")
p("x.appcache", "Clearing the app cache",
  """The Harborbox app keeps thumbnails and recently opened files in a cache of up
  to 2 GB. Clear it in Settings > Storage > Clear cache; offline files and
  backed-up photos are not affected.""")
p("x.fwnotes", "Where to find release notes",
  """Every HarborOS release lists its changes in Control Panel > Update > What's
  new and on the downloads page for your model.""")
p("x.drive_erase", "Erasing a single drive",
  """A drive that is not part of a pool can be wiped in Storage > Drives >
  Secure erase. For SSDs this uses the drive's built-in sanitize command and
  takes only minutes; hard drives are overwritten and take several hours.""")
p("x.cloudpause", "Pausing a cloud backup task",
  """Select the task in Backup Hub and choose Pause. Paused tasks resume at their
  next scheduled time or when you choose Resume; data uploaded so far is kept.""")
p("x.adapter", "Buying a replacement power adapter",
  """Replacement power adapters for all models are sold in the Harbor store. Use
  only the original adapter; adapters with a lower rating can cause drives to
  fail to spin up.""")
p("x.nfssquash", "NFS squash options",
  """NFS rules have a Squash setting. Map root to admin or Map all users to
  guest limit what remote root accounts can do; No mapping gives remote root
  full access and should only be used on trusted networks.""")
p("x.logretention", "How long logs are kept",
  """Log Center rotates logs automatically. To keep logs longer, archive them to
  a shared folder in Log Center > Settings > Archive.""")
p("x.applock", "Locking the app with Face ID or a PIN",
  """In Settings > Security in the Harborbox app you can require Face ID, Touch
  ID, fingerprint or a PIN every time the app is opened.""")
p("x.apptrash", "Files deleted in the app",
  """Files you delete in the Files tab of the app follow the same rules as
  deletions over the network: they move to the shared folder's recycle bin if
  it is enabled.""")
p("x.subtitles", "Subtitles in Media Server",
  """Media Server picks up subtitle files in SRT format if they have the same
  name as the video file and sit in the same folder.""")
p("x.directory", "Joining a Windows domain or LDAP directory",
  """Small businesses can join the Harborbox to an Active Directory domain or an
  LDAP server in Control Panel > Domain/LDAP, so that staff use their existing
  accounts. Domain users and groups then appear in the permission settings.""")
p("x.vlan", "VLAN tagging",
  """Each network port can be assigned a VLAN ID in Control Panel > Network >
  Edit. Your switch must be configured to pass tagged traffic on that port.""")
p("x.snaprep", "Snapshot replication",
  """Snapshot Replication copies the snapshots of a shared folder to another
  Harborbox on a schedule. In an emergency the copy can be switched over to
  become the active folder within minutes. Both devices must use Btrfs pools.""")

q("change the port of the admin web page", "admin.ports")
q("save my settings before a factory reset so I can put them back afterwards",
  "cfg.backup", "mig.reset:1")
q("which folder is eating up all my disk space", "storage.analyzer", "ts.full:1")
q("got a new macbook, bring everything over from the time machine backup on the nas",
  "tm.restore", "bk.tm:1")
q("plug in my camera's sd card and have everything copied over automatically", "app.sdcard")
q("uninstall plex but keep my movies", "pkg.uninstall")
q("change my relay address", "relay.rename", "rem.relay:1")
q("I got a discount voucher, where does it go", "bill.promo")
q("create 30 accounts from a spreadsheet", "user.import")
q("harbor backup agent for mac", "bk.agent_mac", "bk.tm:1")
q("keep a spare disk in the box that takes over automatically when one fails", "raid.spare")
q("everything I should set up so ransomware can't take out the family photos",
  "sec.ransom", "snap.immutable:1", "snap.schedule:1", "bk.321:1")
q("the harborbox app is taking up gigabytes on my phone", "x.appcache", "app.offline:1")
q("can staff sign in with their active directory accounts", "x.directory")
q("standby copy of a shared folder on a second box that can take over quickly",
  "x.snaprep", "bk.nas2nas:1")

# ---------------------------------------------------------------------------
# Untargeted extras (no query points at these on purpose)
# ---------------------------------------------------------------------------

p("x.accessibility", "Accessibility in the Harborbox app",
  """The app supports VoiceOver and TalkBack, dynamic text sizes and a
  high-contrast theme. Report accessibility issues through Settings > Feedback.""")
p("x.languages", "Changing the language of the web console",
  """The web console follows your browser's language by default. To choose a
  different one, open Personal > Display and select a language; 18 languages
  are available.""")
p("x.privacy", "What data does Harbor collect?",
  """HarborOS sends anonymous usage statistics only if you agree during setup.
  Device serial numbers and firmware versions are sent when checking for
  updates. The contents of your files are never sent to Harbor unless you use
  cloud backup, and then only in encrypted form.""")
p("x.kensington", "Securing the device with a lock",
  """The HB-4 Plus and HB-6 Pro have a Kensington security slot on the back,
  and their front panels can be locked with the supplied key.""")
p("x.education", "Discounts for schools and nonprofits",
  """Schools, universities and registered nonprofits get 30% off Harbor Cloud
  Backup yearly plans. Apply through the education page with proof of
  eligibility.""")
p("x.printer", "Sharing a USB printer",
  """Printer sharing over USB was removed in HarborOS 5.0. Most current printers
  connect to the network directly.""")
p("x.index", "Searching for files",
  """The search box in the web file manager searches file names in all folders
  you can access. Enable content indexing in Universal Search to also find
  text inside PDF and Office documents; indexing runs in the background.""")
p("x.theme", "Dark mode",
  """The web console and app follow your system's light or dark appearance
  automatically.""")
p("x.apikey", "Using the HarborOS API",
  """Developers can automate tasks through the HarborOS REST API. Create an
  application token in Personal > Security > API tokens and pass it in the
  Authorization header. Tokens inherit the permissions of the user who
  created them.""")
p("x.quickconnect", "Custom domain for Harbor Relay",
  """Relay names are fixed to the harborrelay.net domain. To use your own
  domain, point it to a DDNS hostname with a CNAME record and set up a direct
  connection.""")
p("x.audio", "Audio Station removed",
  """The Audio Station app was retired in HarborOS 5.0; use Media Server or
  Plex for music.""")
p("x.calendar", "Harbor Calendar and Contacts",
  """Harbor Calendar and Harbor Contacts are CalDAV and CardDAV servers that let
  you keep calendars and address books on your own device and sync them with
  phones and Thunderbird.""")
p("x.download", "Download Station",
  """Download Station downloads files from HTTP, FTP and BitTorrent links
  directly to a shared folder, so your computer doesn't have to stay on.""")
p("x.vm", "Virtual machines",
  """Virtual machines are supported on the HB-6 Pro only. We recommend at least
  16 GB of memory and placing VM disks on an SSD pool.""")
p("x.office", "Harbor Office",
  """Harbor Office lets several people edit documents, spreadsheets and slides
  in the browser at the same time, with files stored on your Harborbox.""")
p("x.sleep_led", "Dimming the lights",
  """Set the brightness of the front lights, or switch them off on a schedule,
  in Hardware & Power > LED brightness.""")

# ---------------------------------------------------------------------------
# Error code articles (assembled from a hand-written table + phrasings)
# ---------------------------------------------------------------------------

# (code, short title, what it means, typical cause, what to do)
ERRORS = [
    ("E1003", "Setup could not download HarborOS",
     "the setup wizard could not reach the update server",
     "This usually happens when the router blocks the device's internet access or the DNS server doesn't answer.",
     "Check that other devices are online, restart the router, or upload the .hbfw file manually."),
    ("E1210", "Drive not supported",
     "a drive in one of the bays is not compatible with the storage pool",
     "USB-bridged drives, SAS drives and drives with 4Kn sectors used together with 512e drives trigger it.",
     "Replace the drive with one from the compatibility list."),
    ("E2041", "Pool expansion failed",
     "HarborOS could not add the new drive to the pool",
     "The new drive is smaller than the smallest existing member, or it reported errors during the check.",
     "Use a drive that is at least as large as the existing ones and look at its SMART status."),
    ("E2107", "Repair interrupted",
     "a pool repair stopped before it finished",
     "A power loss, a restart or a second drive reporting read errors during the repair can cause it.",
     "Start the repair again from Storage > Pools; if another drive shows errors, back up before continuing."),
    ("E2300", "File system read-only",
     "the file system detected an inconsistency and switched to read-only mode to protect your data",
     "It is often triggered by a power outage during heavy writes or by failing memory.",
     "Copy important data off the pool, then run File system check from Storage > Pools."),
    ("E3015", "Backup destination unavailable",
     "a backup task could not reach its destination",
     "The USB drive was disconnected, the remote Harborbox is offline, or the destination folder was renamed.",
     "Reconnect the destination and edit the task if the folder name changed; the task resumes at the next run."),
    ("E3044", "Backup version cannot be read",
     "one version in a backup is damaged",
     "This is usually due to bad sectors on the backup destination drive.",
     "Run an integrity check and relink the task; the next backup writes a fresh complete version."),
    ("E3102", "Cloud backup authentication failed",
     "Harbor Cloud did not accept the credentials stored in the backup task",
     "It appears after the Harbor ID password was changed or the device was unlinked.",
     "Open the task in Backup Hub and sign in to your Harbor ID again."),
    ("E3150", "Cloud quota exceeded",
     "the backup would exceed the storage included in your cloud plan",
     "New data or a large number of kept versions pushed usage over the limit.",
     "Upgrade the plan, reduce the retention or exclude folders, then run the task again."),
    ("E3199", "Cloud backup suspended",
     "uploads were paused because the subscription is not active",
     "A payment failed repeatedly or the subscription ended.",
     "Update your payment method at account.harborbox.com; backups resume within an hour."),
    ("E4001", "Relay connection failed",
     "the Harborbox could not register with the Harbor Relay service",
     "Firewalls that block outgoing connections on port 443, or a wrong system clock, are typical causes.",
     "Allow outgoing HTTPS traffic from the Harborbox and check the date and time settings."),
    ("E4012", "Port forwarding test failed",
     "the router configuration test could not reach the Harborbox from the internet",
     "The router doesn't support UPnP, the forwarding rule points to an old IP address, or the line is behind carrier-grade NAT.",
     "Create the rule manually, reserve the Harborbox's IP address, or use Harbor Relay."),
    ("E4090", "Certificate renewal failed",
     "the Let's Encrypt certificate for your DDNS hostname could not be renewed",
     "Port 80 must be reachable from the internet for the renewal check.",
     "Forward port 80 temporarily or switch to DNS validation in Security > Certificates."),
    ("E5002", "Update file invalid",
     "the uploaded firmware file failed the signature check",
     "The download was incomplete or the file is for a different model.",
     "Download the file again from the page for your exact model."),
    ("E5031", "Not enough space for update",
     "the system partition does not have enough free space for the update",
     "Large log files or apps installed on the system partition take up the space.",
     "Clear old logs in Log Center and restart before trying again."),
    ("E6020", "Fan failure",
     "a system fan stopped or runs below its minimum speed",
     "Dust or a blocked fan can cause it; a fan that makes grinding noises is worn out.",
     "Shut down, clean the fan and contact support if the error returns."),
    ("E6045", "UPS connection lost",
     "the Harborbox lost contact with the connected UPS",
     "A loose USB cable or a UPS firmware update is usually responsible.",
     "Reconnect the USB cable and check Hardware & Power > UPS."),
    ("E7008", "Share link expired",
     "the shared link someone opened has passed its expiry date or download limit",
     "The owner of the link set an expiry date or a maximum number of downloads.",
     "Ask the owner for a new link."),
    ("E7110", "Photo backup paused: destination full",
     "the app stopped backing up photos because the destination is full",
     "The user's quota or the pool itself has no free space left.",
     "Free up space or ask an administrator to raise your quota."),
    ("E7205", "Sign-in blocked",
     "sign-in from this address is temporarily blocked",
     "Too many failed sign-in attempts were made from the same IP address.",
     "Wait for the block to expire or ask an administrator to remove it in Auto Block."),
    ("E8001", "Memory test failed",
     "the memory self-test found an error",
     "Non-supported or faulty memory modules cause it.",
     "Remove any added memory modules and run the test again."),
    ("E8100", "Unexpected shutdown detected",
     "the Harborbox was not shut down properly the last time",
     "Power outages and holding the power button are the usual reasons.",
     "Data scrubbing starts automatically to check the pools; consider a UPS."),
]

ERROR_TEMPLATES = [
    "Error {code} means that {meaning}. {cause} {fix}",
    "You see {code} when {meaning}. {cause} {fix}",
    "{title} ({code}). {cause} {fix} If the error keeps appearing, contact support with a support bundle.",
    "What {code} means: {meaning}. {fix}",
]


def build_error_articles(rng: random.Random) -> None:
    for code, title, meaning, cause, fix in ERRORS:
        tpl = rng.choice(ERROR_TEMPLATES)
        text = tpl.format(code=code, title=title, meaning=meaning, cause=cause,
                          fix=fix)
        text = text[0].upper() + text[1:]
        p("err." + code, f"Error {code}: {title}", text)


q("error E3102 cloud backup", "err.E3102")
q("usb backup task fails because the destination is gone", "err.E3015", "bk.usb:1")
q("what does E2300 read only mean", "err.E2300")
q("cloud backups paused after my card was declined", "err.E3199", "bill.failed")
q("can't connect with relay anymore error E4001", "err.E4001", "ts.clock:1")
q("lets encrypt certificate won't renew", "err.E4090", "sec.cert:1")
q("firmware upload says file invalid", "err.E5002")
q("got an alert that a fan stopped spinning", "err.E6020", "ts.hot:1")
q("friend says the download link I sent him doesn't work anymore", "err.E7008", "share.links:1")
q("phone app stopped backing up pictures, says destination full", "err.E7110", "share.quota:1")
q("nas complains it was not shut down properly", "err.E8100")
q("router test says port forwarding failed", "err.E4012", "rem.cgnat:1", "rem.direct:1")

# ---------------------------------------------------------------------------
# Release notes (assembled from a pool of hand-written change items)
# ---------------------------------------------------------------------------

CHANGE_ITEMS = [
    "Improved the speed of SMB transfers with many small files.",
    "Fixed an issue where drive hibernation was interrupted by the media indexer.",
    "Added immutable snapshots for Btrfs pools.",
    "Backup Hub now shows the estimated time remaining for the first cloud upload.",
    "Fixed a rare case where the status light stayed orange after a successful repair.",
    "Harbor Relay connections are established faster on IPv6 networks.",
    "Security: updated OpenSSL, Samba and the Linux kernel.",
    "Added support for 24 TB drives.",
    "The Harborbox app can now convert HEIC photos to JPEG during upload.",
    "Fixed Time Machine backups failing after the Mac was renamed.",
    "Log Center can now export entries as CSV.",
    "Reduced memory usage of Harbor Photos on the HB-2 Home.",
    "Fixed a problem where Auto Block did not respect the allow list for IPv6 addresses.",
    "Added a Quiet fan mode for the HB-4 Plus.",
    "Cloud Sync now supports OneDrive for Business.",
    "Improved the accuracy of the SMART health status for SSDs.",
    "Fixed share links showing the wrong expiry date in some time zones.",
    "The web console loads faster on slow connections.",
]

RELEASES = [("5.0.0", "September 2023"), ("5.0.2", "October 2023"), ("5.1.0", "January 2024"),
            ("5.1.3", "March 2024"), ("5.2.0", "May 2024"), ("5.2.1", "June 2024")]


def build_release_notes(rng: random.Random) -> None:
    # Each change item appears in exactly one release (2-4 items per release).
    pool = CHANGE_ITEMS[:]
    rng.shuffle(pool)
    sizes = [3] * len(RELEASES)
    for _ in range(len(RELEASES)):
        i, j = rng.sample(range(len(RELEASES)), 2)
        if sizes[i] < 4 and sizes[j] > 2:
            sizes[i] += 1
            sizes[j] -= 1
    assert sum(sizes) == len(pool)
    start = 0
    for (version, month), size in zip(RELEASES, sizes):
        items = pool[start:start + size]
        start += size
        intro = rng.choice([
            f"HarborOS {version} was released in {month}.",
            f"Released {month} for all Harborbox models.",
            f"This update ({month}) is recommended for all users.",
        ])
        p("rel." + version, f"HarborOS {version} release notes", intro + " " + " ".join(items))


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def sha1_hex(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


def build(out_dir: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    build_error_articles(rng)
    build_release_notes(rng)

    keys = [k for k, _, _ in PASSAGES]
    assert len(keys) == len(set(keys)), "duplicate passage key"
    known = set(keys)
    for text, rels in QUERIES:
        for k in rels:
            assert k in known, f"unknown passage key {k!r} in query {text!r}"
        assert 2 in rels.values(), f"query without a score-2 passage: {text!r}"

    # Stable, meaningless ids: shuffle with the seeded RNG, then number.
    order = list(range(len(PASSAGES)))
    rng.shuffle(order)
    key_to_id = {}
    corpus = []
    for n, idx in enumerate(order, start=1):
        key, title, text = PASSAGES[idx]
        doc_id = f"hb{n:04d}"
        key_to_id[key] = doc_id
        corpus.append({"_id": doc_id, "title": title, "text": text})

    qorder = list(range(len(QUERIES)))
    rng.shuffle(qorder)
    queries = []
    qrels = []  # (qid, did, score)
    for n, idx in enumerate(qorder, start=1):
        text, rels = QUERIES[idx]
        qid = f"q{n:04d}"
        queries.append({"_id": qid, "text": text})
        for k, s in sorted(rels.items(), key=lambda kv: (-kv[1], key_to_id[kv[0]])):
            qrels.append((qid, key_to_id[k], s))

    qids_sorted = sorted((qq["_id"] for qq in queries), key=sha1_hex)
    n_train = int(round(TRAIN_FRACTION * len(qids_sorted)))
    train_ids = set(qids_sorted[:n_train])

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "qrels").mkdir(exist_ok=True)

    def dump_jsonl(path: Path, rows: list[dict]) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def dump_qrels(path: Path, rows: list[tuple[str, str, int]]) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, did, s in rows:
                fh.write(f"{qid}\t{did}\t{s}\n")

    dump_jsonl(out_dir / "corpus.jsonl", corpus)
    dump_jsonl(out_dir / "queries.jsonl", queries)
    dump_qrels(out_dir / "qrels" / "all.tsv", qrels)
    dump_qrels(out_dir / "qrels" / "train.tsv", [r for r in qrels if r[0] in train_ids])
    dump_qrels(out_dir / "qrels" / "test.tsv", [r for r in qrels if r[0] not in train_ids])

    targeted = {did for _, did, _ in qrels}
    n_multi = sum(1 for _, rels in QUERIES if len(rels) >= 2)
    stats = {
        "passages": len(corpus),
        "queries": len(queries),
        "train_queries": len(train_ids),
        "test_queries": len(queries) - len(train_ids),
        "qrels": len(qrels),
        "qrels_score2": sum(1 for r in qrels if r[2] == 2),
        "qrels_score1": sum(1 for r in qrels if r[2] == 1),
        "queries_with_2plus_relevant": n_multi,
        "untargeted_passages": len(corpus) - len(targeted),
    }
    (out_dir / "README.md").write_text(readme(stats), encoding="utf-8")
    return stats


def readme(s: dict[str, int]) -> str:
    return f"""# Harborbox help-center demo data set

A small retrieval data set in BEIR format, bundled with rerankft for demos,
tests and smoke runs of reranker fine-tuning. **All content is fictional.**

## Domain

The help center of *Harborbox*, an invented home network-attached-storage
(NAS) product line (HB-2 Home, HB-4 Plus, HB-6 Pro) with its operating system
HarborOS, the Harborbox mobile app, Harbor Relay remote access and the paid
Harbor Cloud Backup subscription. Articles cover setup, drives, storage pools
and RAID, shared folders, users and permissions, SMB/NFS access, computer
backups, snapshots, cloud backup, billing, remote access, the mobile app,
media, firmware updates, networking, power, security, logs, troubleshooting,
error codes, migration and support. Queries are user questions, from short
keyword queries to long descriptive ones.

## Files

| file | content |
| --- | --- |
| `corpus.jsonl` | {s['passages']} passages, `{{"_id", "title", "text"}}` |
| `queries.jsonl` | {s['queries']} queries, `{{"_id", "text"}}` |
| `qrels/all.tsv` | {s['qrels']} judgements for all queries |
| `qrels/train.tsv` | judgements for {s['train_queries']} training queries |
| `qrels/test.tsv` | judgements for {s['test_queries']} test queries |

Qrels are tab-separated with a header line `query-id\\tcorpus-id\\tscore`.
Scores: `2` = the passage directly answers the query ({s['qrels_score2']} pairs),
`1` = partially relevant or related ({s['qrels_score1']} pairs). Unlisted pairs are
non-relevant. Every query has at least one passage with score 2;
{s['queries_with_2plus_relevant']} queries have two to four relevant passages.
{s['untargeted_passages']} passages are not relevant to any query, and many passages
share vocabulary with queries they don't answer (e.g. Harbor ID password vs.
administrator password vs. a soft reset), so lexical search is not perfect.

## Split rule

Split by query: query ids are sorted by the SHA-1 hex digest of the id (UTF-8),
the first 70% (rounded) go to `train`, the rest to `test`. No query appears
in both splits; the corpus is shared.

## Generation

`python scripts/make_demo_data.py [OUTPUT_DIR]` regenerates these files
deterministically (standard library only, seed {SEED}). Article texts and
queries are hand-written in the script; error-code articles and release notes
are assembled from hand-written building blocks with the seeded RNG.
Passage and query ids are assigned after a seeded shuffle and carry no meaning.
"""


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parent.parent / "rerankft" / "demo_data"
    out_dir = Path(argv[1]) if len(argv) > 1 else default
    stats = build(out_dir)
    for k, v in stats.items():
        print(f"{k}: {v}")
    print(f"written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
